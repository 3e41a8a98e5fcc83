"""The engine package must stay pure: stdlib and msgpack only, no framework and no I/O."""

import ast
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[3] / "apps" / "timing" / "engine"

FORBIDDEN = {"django", "channels", "celery", "redis", "kombu", "psycopg", "psycopg2", "requests",
             "httpx", "aiohttp", "socket", "asyncio", "subprocess", "sqlite3", "urllib", "http",
             "pickle", "shelve", "threading", "multiprocessing"}
# The replay reader is the one module allowed to read files (recordings), and it does so
# with pathlib only; everything else must be free of file access too.
FILE_IO_ALLOWED = {"replayfile.py"}


def _modules():
    return sorted(p for p in ENGINE.rglob("*.py"))


def _imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module.split(".")[0], node.lineno


def test_engine_modules_import_only_stdlib_msgpack_or_the_engine_itself():
    allowed = set(sys.stdlib_module_names) | {"msgpack", "__future__"}
    bad = []
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, line in _imports(tree):
            if name in FORBIDDEN or name not in allowed:
                bad.append(f"{path.name}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_only_the_replay_reader_touches_files():
    bad = []
    for path in _modules():
        if path.name in FILE_IO_ALLOWED:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open":
                bad.append(f"{path.name}:{node.lineno} calls open()")
            if isinstance(node, ast.Attribute) and node.attr in {"read_text", "read_bytes", "write_text", "write_bytes"}:
                bad.append(f"{path.name}:{node.lineno} uses {node.attr}")
    assert not bad, "\n".join(bad)


def test_the_purity_check_would_catch_a_django_import(tmp_path):
    tree = ast.parse("from django.db import models\nimport redis.asyncio\n")
    names = {n for n, _ in _imports(tree)}
    assert {"django", "redis"} <= names
