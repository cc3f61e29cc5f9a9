"""Runs pyflakes over the *.py files of a directory and writes its findings as SARIF 2.1.0.

    python3 lint.py [DIR] [--output FILE]

DIR defaults to "."; reports/ and hidden directories are skipped. Without --output the SARIF
goes to stdout. The exit status is 0 whatever is found (the pipeline's gate reads the report);
it is non-zero only when the linter cannot run.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

import pyflakes
from pyflakes import api, reporter

SKIP_DIRS = {"reports", "__pycache__"}
ERRORS = {"UndefinedName", "UndefinedLocal", "UndefinedExport", "SyntaxError", "UnexpectedError"}


class Collector(reporter.Reporter):
    """Keeps pyflakes' findings as (rule, message, file, line, column) instead of printing them."""

    def __init__(self):
        self.findings = []

    def flake(self, message):
        text = message.message % message.message_args
        self.findings.append((type(message).__name__, text, message.filename, message.lineno, message.col + 1))

    def syntaxError(self, filename, msg, lineno, offset, text):
        self.findings.append(("SyntaxError", msg, filename, max(lineno or 1, 1), max(offset or 1, 1)))

    def unexpectedError(self, filename, msg):  # unreadable or undecodable file
        self.findings.append(("UnexpectedError", msg, filename, None, None))


def python_files(root):
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith("."))
        yield from (Path(directory, f) for f in sorted(files) if f.endswith(".py"))


def rule(rule_id):
    words = re.sub(r"(?<!^)([A-Z])", r" \1", rule_id).capitalize()
    level = "error" if rule_id in ERRORS else "warning"
    return {"id": rule_id, "shortDescription": {"text": words}, "defaultConfiguration": {"level": level}}


def sarif(root, findings):
    rule_ids = sorted({f[0] for f in findings})
    results = []
    for rule_id, text, filename, line, column in findings:
        location = {"artifactLocation": {"uri": Path(filename).relative_to(root).as_posix(), "uriBaseId": "SRCROOT"}}
        if line is not None:
            location["region"] = {"startLine": line, "startColumn": column}
        results.append({
            "ruleId": rule_id,
            "ruleIndex": rule_ids.index(rule_id),
            "level": "error" if rule_id in ERRORS else "warning",
            "message": {"text": text},
            "locations": [{"physicalLocation": location}],
        })
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "pyflakes",
                "version": pyflakes.__version__,
                "informationUri": "https://github.com/PyCQA/pyflakes",
                "rules": [rule(r) for r in rule_ids],
            }},
            "originalUriBaseIds": {"SRCROOT": {"uri": root.resolve().as_uri() + "/"}},
            "results": results,
        }],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=".")
    parser.add_argument("--output", help="the SARIF file to write (default: stdout)")
    args = parser.parse_args()
    root = Path(args.directory)
    if not root.is_dir():
        parser.error(f"{root} is not a directory")

    collector = Collector()
    files = list(python_files(root))
    for path in files:
        api.checkPath(str(path), collector)
    report = json.dumps(sarif(root, collector.findings), indent=2) + "\n"

    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(report)
    else:
        sys.stdout.write(report)
    print(f"pyflakes: {len(collector.findings)} finding(s) in {len(files)} file(s)", file=sys.stderr)


if __name__ == "__main__":
    main()
