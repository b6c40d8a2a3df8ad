"""Linear's real schema (shared/fixtures/linear/schema.graphql), built once per process: the
stand-in validates every document against it and checks its own webhook bodies with it."""

from functools import lru_cache
from typing import Any

import graphql

from tests.conftest import REPO_ROOT

SCHEMA_FILE = REPO_ROOT.parent / "shared" / "fixtures" / "linear" / "schema.graphql"


@lru_cache(maxsize=1)
def schema() -> graphql.GraphQLSchema:
    """Linear's schema (a few seconds to build; then cached)."""
    if not SCHEMA_FILE.exists():
        raise RuntimeError(f"Linear's schema is missing: {SCHEMA_FILE} (shared/ beside the repo)")
    return graphql.build_schema(SCHEMA_FILE.read_text())


def problems(type_name: str, value: Any, path: str = "$") -> list[str]:
    """How `value` differs from the schema's object type `type_name` (a webhook payload type):
    unknown keys, missing non-null fields, wrong scalar kinds. Empty when it conforms."""
    return _check(schema().get_type(type_name), value, path)


_SCALARS: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "ID": (str,),
    "Float": (int, float),
    "Int": (int,),
    "Boolean": (bool,),
    "DateTime": (str,),
    "JSONObject": (dict,),
    "JSON": (dict, list, str, int, float, bool),
}


def _check(t: Any, value: Any, path: str) -> list[str]:
    if isinstance(t, graphql.GraphQLNonNull):
        if value is None:
            return [f"{path}: required"]
        return _check(t.of_type, value, path)
    if value is None:
        return []
    if isinstance(t, graphql.GraphQLList):
        if not isinstance(value, list):
            return [f"{path}: a list expected"]
        return [p for i, v in enumerate(value) for p in _check(t.of_type, v, f"{path}[{i}]")]
    if isinstance(t, graphql.GraphQLUnionType):
        tries = [_check(member, value, path) for member in t.types]
        return [] if any(not p for p in tries) else min(tries, key=len)
    if isinstance(t, graphql.GraphQLObjectType):
        if not isinstance(value, dict):
            return [f"{path}: an object expected"]
        found = [f"{path}.{k}: not a field of {t.name}" for k in value if k not in t.fields]
        for name, f in t.fields.items():
            found += _check(f.type, value.get(name), f"{path}.{name}")
        return found
    if isinstance(t, graphql.GraphQLEnumType):
        return [] if value in t.values else [f"{path}: not a {t.name}"]
    kinds = _SCALARS.get(getattr(t, "name", ""), (object,))
    is_bool = isinstance(value, bool)  # a bool is an int to Python, never to GraphQL
    ok = isinstance(value, kinds) and (not is_bool or bool in kinds or object in kinds)
    return [] if ok else [f"{path}: {type(value).__name__} is not a {t}"]
