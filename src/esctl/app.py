"""Loading the user's application modules, so their event classes and projections register.

The CLI finds them in this order: ``--app`` options, the ``ESCTL_APP`` environment variable,
then ``app`` under ``[tool.esctl]`` in the current directory's ``pyproject.toml``. Each entry
is a module name (``myapp.events``, imported with the current directory on ``sys.path``) or
the path of a ``.py`` file.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from esctl.errors import EsctlError, NotFoundError, UsageError


class AppLoadError(UsageError):
    """An application module was found but raised while being imported (exit code 2).

    A usage error: the ``--app`` given (or configured) cannot be used; the message carries the
    import error.
    """


class AppNotFoundError(NotFoundError):
    """An application module or file that does not exist (exit code 5)."""


def _configured(cwd: Path, key: str) -> object:
    """Return ``key`` under ``[tool.esctl]`` in ``cwd/pyproject.toml`` (``None``: not there).

    Raises:
        AppLoadError: ``pyproject.toml`` is not valid TOML.
    """
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return None
    import tomllib  # only when there is a file to read: it is not free to import

    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise AppLoadError(f"cannot read {path}: {error}", hint="fix the file's TOML syntax") from None
    value: object = config.get("tool", {}).get("esctl", {}).get(key)
    return value


def configured_db(cwd: Path) -> str | None:
    """Return the store named as ``db`` under ``[tool.esctl]`` in ``cwd/pyproject.toml``, if any.

    A relative path is relative to ``cwd``, where the file is; a URL is kept as it is.

    Raises:
        AppLoadError: ``pyproject.toml`` is not valid TOML, or ``db`` is not a non-empty string.
    """
    value = _configured(cwd, "db")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AppLoadError(f"{cwd / 'pyproject.toml'}: [tool.esctl] db must be a path or URL (a string)")
    return value


def configured_modules(cwd: Path) -> list[str]:
    """Return the modules listed as ``app`` under ``[tool.esctl]`` in ``cwd/pyproject.toml``.

    ``app`` may be one string or a list of strings. A missing file or table means no modules.

    Raises:
        AppLoadError: ``pyproject.toml`` is not valid TOML, or ``app`` has the wrong type.
    """
    path = cwd / "pyproject.toml"
    value = _configured(cwd, "app")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise AppLoadError(f"{path}: [tool.esctl] app must be a string or a list of strings")


def load_app(modules: Sequence[str] = (), *, cwd: Path | None = None) -> list[str]:
    """Import the user's application modules.

    Args:
        modules: Module names or ``.py`` paths; entries may also be comma-separated. When
            empty, the modules configured in ``cwd/pyproject.toml`` are used.
        cwd: The directory module names and relative paths are resolved against
            (default: the current directory).

    Returns:
        The names under which the modules were imported, in order.

    Raises:
        AppNotFoundError: A module or file does not exist.
        AppLoadError: A module raised while being imported.

    Example:
        >>> # load_app(["myapp.events"])       # or load_app() to read pyproject.toml
    """
    base = cwd if cwd is not None else Path.cwd()
    names = [part.strip() for entry in modules for part in entry.split(",") if part.strip()]
    if not names:
        names = configured_modules(base)
    return [_import(name, base) for name in names]


def _import(name: str, cwd: Path) -> str:
    if name.endswith(".py") or "/" in name or "\\" in name:
        return _import_file(cwd / name)
    if str(cwd) not in sys.path:
        # Like `python -m`: a module next to the user's pyproject.toml is importable.
        sys.path.insert(0, str(cwd))
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            raise AppNotFoundError(
                f"app module {name!r} not found",
                hint="check --app / ESCTL_APP, and that the module is importable from this directory",
            ) from None
        raise AppLoadError(
            f"app module {name!r} failed to import: {error}", hint="run with -v for a traceback"
        ) from error
    except EsctlError:
        raise
    except Exception as error:
        raise AppLoadError(
            f"app module {name!r} failed to import: {type(error).__name__}: {error}",
            hint="run with -v for a traceback",
        ) from error
    return name


def _import_file(path: Path) -> str:
    if not path.is_file():
        raise AppNotFoundError(f"app file {path} not found", hint="check --app / ESCTL_APP")
    resolved = path.resolve()
    for module in list(sys.modules.values()):
        if getattr(module, "__file__", None) == str(resolved):
            return module.__name__
    name = f"esctl_app_{resolved.stem}"
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except EsctlError:
        del sys.modules[name]
        raise
    except Exception as error:
        del sys.modules[name]
        raise AppLoadError(
            f"app file {path} failed to import: {type(error).__name__}: {error}", hint="run with -v for a traceback"
        ) from error
    return name
