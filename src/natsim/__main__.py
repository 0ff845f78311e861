import sys

from natsim.cli import main

sys.exit(main())
