"""Write the contracts into docs/contracts: a JSON Schema per event version and AsyncAPI 3.0.

Refuses to overwrite a published schema with an incompatible one: bump the event's
schema_version (and register an upcaster) instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tandem_contracts import (
    CATALOGUE,
    __version__,
    asyncapi_document,
    check_catalogue,
    event_json_schema,
    schema_filename,
)


def _dump(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs/contracts"))
    args = parser.parse_args()
    schemas: Path = args.out / "schemas"
    schemas.mkdir(parents=True, exist_ok=True)
    problems = check_catalogue(schemas, CATALOGUE)
    if problems:
        print("Incompatible changes to published event versions:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Bump the event's schema_version and register an upcaster.", file=sys.stderr)
        return 1
    for model in CATALOGUE:
        (schemas / schema_filename(model)).write_text(_dump(event_json_schema(model)))
    document = asyncapi_document(CATALOGUE, version=__version__)
    (args.out / "asyncapi.json").write_text(_dump(document))
    print(f"wrote {len(list(CATALOGUE))} event schemas and asyncapi.json to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
