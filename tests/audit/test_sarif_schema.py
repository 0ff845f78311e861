"""`natsim audit --format sarif` checked against the official SARIF 2.1.0 JSON schema.

The schema is ``fixtures/schemas/sarif-schema-2.1.0.json`` (origin in ``fixtures/schemas/SOURCES.md``).
jsonschema only checks ``format`` when a checker for it is installed, so the two URI formats the schema
uses are checked here with the RFC 3986 grammar. On top of the schema: rule ids and indexes agree, every
location's URI is a relative reference that resolves to the audited file, and line numbers start at 1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import jsonschema
import pytest

from natsim.cli import main
from tests.audit.conftest import ROOT, corpus
from tests.audit.test_audit_corpus import _with_published_port

SCHEMA_PATH = ROOT / "fixtures" / "schemas" / "sarif-schema-2.1.0.json"

# RFC 3986, appendix A: URI and relative-ref (IP literals simplified to "[...]").
_PCT = r"%[0-9A-Fa-f]{2}"
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_PCHAR_NC = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}@]|{_PCT})"
_SEGMENTS = rf"(?:/{_PCHAR}*)*"
_USERINFO = rf"(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?"
_HOST = rf"(?:\[[^\]/]+\]|(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*)"
_AUTHORITY = rf"{_USERINFO}{_HOST}(?::[0-9]*)?"
_TAIL = rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?"
_URI = re.compile(
    rf"[A-Za-z][A-Za-z0-9+\-.]*:(?://{_AUTHORITY}{_SEGMENTS}|/(?:{_PCHAR}+{_SEGMENTS})?|{_PCHAR}+{_SEGMENTS}|){_TAIL}"
)
_RELATIVE_REF = re.compile(
    rf"(?://{_AUTHORITY}{_SEGMENTS}|/(?:{_PCHAR}+{_SEGMENTS})?|{_PCHAR_NC}+{_SEGMENTS}|){_TAIL}"
)


def _format_checker() -> Any:
    """The validator's format checker plus RFC 3986 ``uri`` and ``uri-reference``."""
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def _is_uri(value: object) -> bool:
        return not isinstance(value, str) or _URI.fullmatch(value) is not None

    @checker.checks("uri-reference")
    def _is_uri_reference(value: object) -> bool:
        return not isinstance(value, str) or bool(_URI.fullmatch(value) or _RELATIVE_REF.fullmatch(value))

    return checker


def test_uri_grammar_rejects_what_it_should() -> None:
    """The URI checks themselves: they would catch the mistakes they are here for."""
    checker = _format_checker()
    for good in ("https://example.invalid/natsim", "file:///tmp/a%20b.rules"):
        assert checker.conforms(good, "uri"), good
    for good in ("/tmp/a%20b.rules", "dir/a.rules", "../a%3Ab.rules", "./a:b.rules"):
        assert checker.conforms(good, "uri-reference"), good
    for bad in ("rules.v4", "/tmp/a.rules", "http://exa mple/"):
        assert not checker.conforms(bad, "uri"), bad
    for bad in ("a b.rules", "save%2010:00.rules", "/tmp/50%.rules", "x.rules#a#b"):
        assert not checker.conforms(bad, "uri-reference"), bad


@pytest.fixture(scope="module")
def validator() -> Any:
    """A validator for the draft the schema file declares, checking formats too."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=_format_checker())


def _sarif(target: Path | str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run ``natsim audit TARGET --format sarif`` and parse its output."""
    status = main(["audit", str(target), "--format", "sarif"])
    out = capsys.readouterr()
    assert status == 0, out.err
    return json.loads(out.out)


def _schema_errors(validator: Any, doc: dict[str, Any]) -> list[str]:
    """Every schema error as ``/json/pointer: message``."""
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors]


def _physical_locations(result: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("locations", "relatedLocations"):
        for loc in result.get(key, []):
            if "physicalLocation" in loc:
                yield loc["physicalLocation"]


def _resolves_to(uri: str, audited: Path, cwd: Path) -> bool:
    """Whether ``uri`` is a relative reference that, resolved against ``cwd``, names ``audited``."""
    parts = urlsplit(uri)
    if parts.scheme or parts.netloc or parts.query or parts.fragment:
        return False
    target = urlsplit(urljoin(cwd.as_uri() + "/", uri))
    return Path(url2pathname(target.path)).resolve() == audited.resolve()


def _semantic_problems(doc: dict[str, Any], audited: Path, cwd: Path) -> list[str]:
    """What the schema cannot say: rule references, URIs that name the audited file, 1-based lines."""
    problems: list[str] = []
    for r, run in enumerate(doc["runs"]):
        ids = [rule["id"] for rule in run["tool"]["driver"].get("rules", [])]
        if len(set(ids)) != len(ids):
            problems.append(f"run {r}: duplicate rule ids {ids}")
        for artifact in run.get("artifacts", []):
            uri = artifact["location"]["uri"]
            if not _resolves_to(uri, audited, cwd):
                problems.append(f"run {r} artifact: uri {uri!r} does not resolve to {audited}")
        for i, res in enumerate(run["results"]):
            where = f"run {r} result {i} ({res.get('ruleId')})"
            if res.get("ruleId") not in ids:
                problems.append(f"{where}: ruleId is not among the driver's rules {ids}")
            elif not (0 <= res.get("ruleIndex", -1) < len(ids) and ids[res["ruleIndex"]] == res["ruleId"]):
                problems.append(f"{where}: ruleIndex {res.get('ruleIndex')} does not point at its ruleId")
            if not res.get("locations"):
                problems.append(f"{where}: no locations")
            for phys in _physical_locations(res):
                uri = phys["artifactLocation"]["uri"]
                if not _resolves_to(uri, audited, cwd):
                    problems.append(f"{where}: uri {uri!r} does not resolve to {audited}")
                region = phys.get("region")
                if region is not None and not (isinstance(region.get("startLine"), int) and region["startLine"] >= 1):
                    problems.append(f"{where}: startLine {region.get('startLine')!r} is not >= 1")
    return problems


def _check(validator: Any, doc: dict[str, Any], audited: Path, cwd: Path | None = None) -> None:
    """Assert the log is schema-valid and semantically sound; list every problem found."""
    errors = _schema_errors(validator, doc)
    assert not errors, f"{len(errors)} SARIF schema error(s):\n" + "\n".join(errors)
    problems = _semantic_problems(doc, audited, cwd or Path.cwd())
    assert not problems, f"{len(problems)} SARIF problem(s):\n" + "\n".join(problems)


def _levels(doc: dict[str, Any]) -> set[str]:
    return {res["level"] for res in doc["runs"][0]["results"]}


def _checks(doc: dict[str, Any]) -> set[str]:
    return {res["ruleId"] for res in doc["runs"][0]["results"]}


@pytest.mark.parametrize(
    ("name", "expect_checks"),
    [
        # Docker, the container's every port open (medium -> warning)
        ("moby-iptabler-golden-proxy-nat-unprotected.rules", {"container-directly-reachable"}),
        # ufw with Docker 28: unparsed (redacted) lines and unreachable chains (low/info -> note)
        ("hostaudit-ufw-docker28-libvirt-counters.v4.rules", {"unparsed-line", "unreachable-chain"}),
        # ufw alone
        ("fffuu-ufw-server2.rules", {"unreachable-chain"}),
        # matches natsim does not model, and shadowed rules with related locations
        ("fffuu-typical-home-user.rules", {"unknown-module", "shadowed-rule", "redundant-rule"}),
        # an `iptables -S` dump matching ipsets whose contents are unknown
        ("moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt", {"missing-ipset"}),
        # Docker with a container and a port published on all addresses (medium + info)
        ("fffuu-pastebin-bbWXHaTn.rules", {"container-directly-reachable", "redundant-rule"}),
        # a restore file with empty built-in chains: findings without a rule line
        ("kube-proxy-test-overall-iptables-rules.restore.rules", {"partial-ruleset"}),
    ],
)
def test_corpus_sarif_is_schema_valid(
    name: str, expect_checks: set[str], validator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    path = corpus(name)
    doc = _sarif(path, capsys)
    assert expect_checks <= _checks(doc), "the fixture no longer shows what this case is here for"
    _check(validator, doc, path)


def test_high_severity_finding_is_an_error(
    tmp_path: Path, validator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A published port that bypasses ufw's INPUT: a high finding, SARIF level error, with related rules."""
    text = corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules").read_text()
    path = tmp_path / "published.rules"
    path.write_text(_with_published_port(text))
    doc = _sarif(path, capsys)
    _check(validator, doc, path)
    [bypass] = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "docker-bypasses-input"]
    assert bypass["level"] == "error" and bypass["properties"]["severity"] == "high"
    assert bypass["relatedLocations"], "the finding names several rules"
    assert {"error", "note"} <= _levels(doc)


@pytest.mark.parametrize(
    "filename",
    ["my rules.v4", "save 2024-05-01T10:00.rules", "host:1.rules", "50% [old] #2.rules", "naïve ü.rules"],
)
def test_awkward_file_names(
    filename: str, tmp_path: Path, validator: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """File names with spaces, colons, ``%``, ``#`` and non-ASCII: by absolute and by relative path."""
    folder = tmp_path / "dir with spaces"
    folder.mkdir()
    path = folder / filename
    path.write_bytes(corpus("fffuu-synology-ds414-ip6.rules").read_bytes())
    doc = _sarif(path, capsys)
    assert doc["runs"][0]["results"]
    _check(validator, doc, path)
    monkeypatch.chdir(folder)
    doc = _sarif(filename, capsys)
    _check(validator, doc, path, cwd=folder)
    for res in doc["runs"][0]["results"]:
        uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert "/" not in uri, f"{uri!r}: a relative path stays relative"


def test_no_findings(tmp_path: Path, validator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A clean ruleset: an empty run is still a valid log."""
    path = tmp_path / "clean.rules"
    path.write_text("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n")
    doc = _sarif(path, capsys)
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["tool"]["driver"]["rules"] == []
    _check(validator, doc, path)
    docker = corpus("moby-iptabler-golden-cleaned-proxy.rules")
    doc = _sarif(docker, capsys)
    assert doc["runs"][0]["results"] == []
    _check(validator, doc, docker)


def test_unparsable_line(tmp_path: Path, validator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A line the lenient parser skips becomes an ``unparsed-line`` result at that line."""
    path = tmp_path / "broken.rules"
    path.write_text(
        "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
        "-A INPUT -p tcp --dport ((( -j ACCEPT\n"
        "COMMIT\n"
    )
    doc = _sarif(path, capsys)
    _check(validator, doc, path)
    [res] = [r for r in doc["runs"][0]["results"] if r["ruleId"] == "unparsed-line"]
    assert res["level"] == "note"
    assert res["locations"][0]["physicalLocation"]["region"]["startLine"] == 6


def test_the_checks_catch_a_broken_log(
    validator: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Spoiled copies of a good log fail: the schema and the semantic checks are not vacuous."""
    path = corpus("fffuu-synology-ds414-ip6.rules")
    good = _sarif(path, capsys)
    _check(validator, good, path)

    bad = json.loads(json.dumps(good))
    res = bad["runs"][0]["results"][0]
    res["level"] = "fatal"
    res["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "not a uri"
    errors = _schema_errors(validator, bad)
    assert len(errors) == 3, errors

    bad = json.loads(json.dumps(good))
    res = bad["runs"][0]["results"][0]
    res["ruleIndex"] = len(bad["runs"][0]["tool"]["driver"]["rules"])
    res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "other.rules"
    bad["runs"][0]["results"][1]["ruleId"] = "no-such-check"
    assert not _schema_errors(validator, bad)
    problems = _semantic_problems(bad, path, Path.cwd())
    assert len(problems) == 3, problems
