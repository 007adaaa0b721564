"""Reading a Pulumi project the way the CLI does: ``Pulumi.yaml``, ``Pulumi.<stack>.yaml`` and secrets.

Only what an offline preview needs: the project name, the program directory, the interpreter to run
it with, and the stack's configuration with secure values decrypted when the passphrase is at hand.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import wire
from .errors import InputError

# Pulumi's stack names: letters, digits, '-', '_', '.'; optionally qualified as org/project/stack.
_STACK_PART = r"[A-Za-z0-9_.-]+"
_STACK_RE = re.compile(rf"^(?:{_STACK_PART}/){{0,2}}{_STACK_PART}$")
_PROJECT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

PBKDF2_ITERATIONS = 1_000_000  # the passphrase secrets provider's key derivation (AES-256-GCM key)


def virtualenv_python(base: Path, venv: str) -> Path:
    """The interpreter of a virtualenv named in Pulumi.yaml or PulumiPolicy.yaml, relative to ``base``."""
    venv_dir = Path(venv) if os.path.isabs(venv) else base / venv
    return venv_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@dataclass(frozen=True)
class ConfigValue:
    """One stack config value, serialised as the language host passes it (a string)."""

    value: str
    secret: bool = False


@dataclass(frozen=True)
class Project:
    name: str
    root: Path
    program_dir: Path
    runtime_options: dict[str, Any] = field(default_factory=dict)
    description: str | None = None

    @property
    def interpreter(self) -> str:
        """The Python that runs the program: the project's virtualenv if it declares one."""
        venv = self.runtime_options.get("virtualenv")
        if not venv:
            return sys.executable
        python = virtualenv_python(self.root, venv)
        if not python.exists():
            raise InputError(
                f"Pulumi.yaml declares virtualenv '{venv}', but {python} does not exist; create it with "
                f"`python3 -m venv {venv} && {venv}/bin/pip install -r requirements.txt` (or `make venv`)"
            )
        return str(python)


@dataclass(frozen=True)
class StackConfig:
    stack: str
    values: dict[str, ConfigValue]
    #: Secure keys whose value could not be decrypted; the program sees them as unknown secrets.
    undecrypted: tuple[str, ...] = ()

    def env(self) -> dict[str, str]:
        """``PULUMI_CONFIG`` and ``PULUMI_CONFIG_SECRET_KEYS`` as the language host sets them."""
        config = {k: v.value for k, v in self.values.items()}
        secret_keys = sorted(k for k, v in self.values.items() if v.secret)
        return {
            "PULUMI_CONFIG": json.dumps(config),
            "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys),
        }

    def secret_values(self) -> set[str]:
        """Decrypted secret values (and the strings inside structured ones), to scrub from reports."""
        found: set[str] = set()
        for value in self.values.values():
            if not value.secret or value.value == wire.UNKNOWN:
                continue
            found.add(value.value)
            try:
                found |= wire.secret_strings(wire.make_secret(json.loads(value.value)))
            except ValueError:
                pass
        return {s for s in found if s}

    def plain(self) -> dict[str, str]:
        """The config map without secret values, for packs' ``ConfigureStack``."""
        return {k: v.value for k, v in self.values.items()}


#: The most values a project or stack file may stand for once its aliases are expanded. Far above any
#: real config; an alias bomb of a few lines stands for billions and would exhaust memory before
#: ``--timeout`` could apply (the files are read before the run starts).
MAX_YAML_VALUES = 1_000_000


class _ProjectYamlLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads it (Go's yaml.v3): a duplicate key is an error, not "the last one
    wins", so the gate never judges a value the CLI would refuse."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{str(key)[:40]}'", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: Any, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias expanded (each shared node counted once
    per use, computed once)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_YAML_VALUES + 1  # a cycle (a recursive alias) never ends
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, sizes) for v in node.value)
    else:
        size = 1
    sizes[id(node)] = min(size, MAX_YAML_VALUES + 1)
    return sizes[id(node)]


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    loader = _ProjectYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_VALUES:
            raise InputError(f"{path}: its YAML aliases (*) expand to more than {MAX_YAML_VALUES:,} values")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise InputError(f"{path} is nested too deeply") from None
    finally:
        loader.dispose()


def load_project(cwd: str | os.PathLike[str]) -> Project:
    root = Path(cwd).resolve()
    path = root / "Pulumi.yaml"
    if not path.exists():
        alt = root / "Pulumi.yml"
        if not alt.exists():
            raise InputError(f"no Pulumi.yaml in {root}: pass --cwd pointing at a Pulumi project")
        path = alt
    doc = _read_yaml(path)
    if not isinstance(doc, dict):
        raise InputError(f"{path} must be a YAML mapping")
    name = doc.get("name")
    if not isinstance(name, str) or not _PROJECT_RE.match(name):
        raise InputError(f"{path}: 'name' must be a project name (letters, digits, '-', '_', '.')")
    runtime = doc.get("runtime")
    options: dict[str, Any] = {}
    if isinstance(runtime, dict):
        runtime_name = runtime.get("name")
        options = dict(runtime.get("options") or {})
    else:
        runtime_name = runtime
    if runtime_name != "python":
        raise InputError(f"{path}: runtime is '{runtime_name}'; crossgate runs Python programs "
                         "(gate other languages with `crossgate check --preview-json`)")
    main = doc.get("main") or "."
    program_dir = (root / main).resolve()
    if program_dir.is_file():
        raise InputError(f"{path}: main '{main}' is a file; crossgate expects a program directory")
    if not (program_dir / "__main__.py").exists():
        raise InputError(f"{path}: main '{main}' has no __main__.py")
    description = doc.get("description")
    return Project(name=name, root=root, program_dir=program_dir, runtime_options=options,
                   description=description if isinstance(description, str) else None)


def validate_stack_name(stack: str) -> str:
    if not stack or not _STACK_RE.match(stack):
        raise InputError(f"invalid stack name '{stack}': use letters, digits, '-', '_' or '.', "
                         "optionally as org/project/stack")
    return stack


def _qualify(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def load_stack_config(project: Project, stack: str, *, env: dict[str, str] | None = None) -> StackConfig:
    """Read ``Pulumi.<stack>.yaml`` (missing means empty config) plus project-level defaults."""
    env = dict(os.environ) if env is None else env
    validate_stack_name(stack)
    short = stack.rsplit("/", 1)[-1]
    values: dict[str, ConfigValue] = {}
    undecrypted: list[str] = []

    project_doc = _read_yaml(project.root / "Pulumi.yaml") or {}
    for key, spec in (project_doc.get("config") or {}).items():
        default = spec.get("default", spec.get("value")) if isinstance(spec, dict) else spec
        if default is not None:
            values[_qualify(project.name, key)] = ConfigValue(_encode(default))

    path = project.root / f"Pulumi.{short}.yaml"
    if not path.exists():
        return StackConfig(stack=stack, values=values)
    doc = _read_yaml(path) or {}
    if not isinstance(doc, dict):
        raise InputError(f"{path} must be a YAML mapping")
    if doc.get("environment"):
        raise InputError(f"{path} imports ESC environment(s) {doc['environment']!r}; ESC can't be read "
                         "offline: copy the values the program needs into the stack's config")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise InputError(f"{path}: 'config' must be a mapping")

    crypter = _Crypter.for_stack(doc, path, env)
    for key, raw in config.items():
        qualified = _qualify(project.name, str(key))
        decoded, secret, missing = _decode(raw, crypter, f"{path}: {qualified}")
        if missing:
            undecrypted.append(qualified)
        values[qualified] = ConfigValue(_encode(decoded), secret)
    return StackConfig(stack=stack, values=values, undecrypted=tuple(sorted(undecrypted)))


def _encode(value: Any) -> str:
    """Config values reach the program as strings; objects and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _decode(raw: Any, crypter: "_Crypter", where: str) -> tuple[Any, bool, bool]:
    """Return (value, is_secret, could_not_decrypt) for one config value, recursively."""
    if isinstance(raw, dict) and set(raw) == {"secure"}:
        plain = crypter.decrypt(raw["secure"], where)
        if plain is None:
            return wire.UNKNOWN, True, True
        return plain, True, False
    if isinstance(raw, dict):
        out, secret, missing = {}, False, False
        for k, v in raw.items():
            out[k], s, m = _decode(v, crypter, where)
            secret, missing = secret or s, missing or m
        return out, secret, missing
    if isinstance(raw, list):
        items = [_decode(v, crypter, where) for v in raw]
        return ([i[0] for i in items], any(i[1] for i in items), any(i[2] for i in items))
    return raw, False, False


class _Crypter:
    """The passphrase secrets provider: PBKDF2-SHA256 (1,000,000 rounds) and AES-256-GCM."""

    def __init__(self, key: bytes | None, reason: str) -> None:
        self._key = key
        self.reason = reason

    @classmethod
    def for_stack(cls, doc: dict[str, Any], path: Path, env: dict[str, str]) -> "_Crypter":
        provider = doc.get("secretsprovider")
        salt_state = doc.get("encryptionsalt")
        if provider and provider != "passphrase":
            return cls(None, f"secrets provider '{provider}' needs the cloud")
        if not salt_state:
            return cls(None, "the stack has no encryptionsalt")
        phrase = env.get("PULUMI_CONFIG_PASSPHRASE")
        phrase_file = env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
        if phrase is None and phrase_file:
            try:
                phrase = Path(phrase_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise InputError(f"cannot read PULUMI_CONFIG_PASSPHRASE_FILE {phrase_file}: {exc.strerror}") from exc
        if phrase is None:
            return cls(None, "no passphrase (PULUMI_CONFIG_PASSPHRASE) is set")
        parts = str(salt_state).split(":", 2)
        if len(parts) != 3 or parts[0] != "v1":
            raise InputError(f"{path}: malformed encryptionsalt")
        try:
            salt = base64.b64decode(parts[1], validate=True)
        except ValueError as exc:
            raise InputError(f"{path}: malformed encryptionsalt") from exc
        key = hashlib.pbkdf2_hmac("sha256", phrase.encode(), salt, PBKDF2_ITERATIONS, 32)
        crypter = cls(key, "")
        if crypter.decrypt(parts[2], f"{path}: encryptionsalt", verify=True) != "pulumi":
            raise InputError(f"{path}: incorrect passphrase for this stack")
        return crypter

    def decrypt(self, ciphertext: str, where: str, *, verify: bool = False) -> str | None:
        if self._key is None:
            return None
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        parts = str(ciphertext).split(":")
        if len(parts) != 3 or parts[0] != "v1":
            raise InputError(f"{where}: malformed secure value")
        try:
            nonce, data = base64.b64decode(parts[1]), base64.b64decode(parts[2])
            return AESGCM(self._key).decrypt(nonce, data, None).decode()
        except (InvalidTag, ValueError) as exc:
            if verify:
                return None
            raise InputError(f"{where}: cannot decrypt secure value (wrong passphrase?)") from exc


def encrypt_for_tests(key_phrase: str, salt: bytes, plaintext: str) -> tuple[str, str]:
    """Produce (encryptionsalt, secure value) as the passphrase provider writes them.

    Exposed so tests and fixtures can build encrypted stacks without the Pulumi CLI.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = hashlib.pbkdf2_hmac("sha256", key_phrase.encode(), salt, PBKDF2_ITERATIONS, 32)

    def enc(text: str) -> str:
        nonce = os.urandom(12)
        data = AESGCM(key).encrypt(nonce, text.encode(), None)
        return f"v1:{base64.b64encode(nonce).decode()}:{base64.b64encode(data).decode()}"

    return f"v1:{base64.b64encode(salt).decode()}:{enc('pulumi')}", enc(plaintext)


# -- stack tags ------------------------------------------------------------------------------------

TAGS_CONFIG_KEY = "pulumi:tags"


def stack_tags(project: Project, config: StackConfig, *, extra: dict[str, str] | None = None,
               env: dict[str, str] | None = None) -> dict[str, str]:
    """The stack's tags as the CLI hands them to packs (``ConfigureStack``).

    As ``backend.GetMergedStackTags`` does: the tags the backend keeps for the stack (the file
    backend's ``.pulumi/stacks/<project>/<stack>.pulumi-tags`` when ``PULUMI_BACKEND_URL`` is a
    ``file://`` URL), overwritten by the tags the CLI derives itself (``pulumi:project``,
    ``pulumi:runtime``, ``pulumi:description``) and by ``pulumi:tags`` in the project or stack
    config; then ``extra`` (``--stack-tag``) wins over everything.
    """
    env = dict(os.environ) if env is None else env
    short = config.stack.rsplit("/", 1)[-1]
    tags = _backend_tags(env.get("PULUMI_BACKEND_URL", ""), project.name, short)
    tags.update({"pulumi:project": project.name, "pulumi:runtime": "python"})
    if project.description:
        tags["pulumi:description"] = project.description
    configured = config.values.get(TAGS_CONFIG_KEY)
    if configured is not None:
        if configured.secret:
            raise InputError(f"{TAGS_CONFIG_KEY} must not be a secret: stack tags are not secret")
        try:
            doc = json.loads(configured.value)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise InputError(f"{TAGS_CONFIG_KEY} must be an object of strings")
        for name, value in doc.items():
            if not isinstance(value, str):
                raise InputError(f"{TAGS_CONFIG_KEY}[{name}] must be a string")
            tags[name] = value
    tags.update(extra or {})
    return tags


def _backend_tags(url: str, project: str, stack: str) -> dict[str, str]:
    """The file backend's tags for the stack; other backends keep them in the cloud (nothing offline)."""
    if not url.startswith("file://"):
        return {}
    from urllib.parse import unquote, urlparse

    parsed = urlparse(url)
    root = Path(os.path.expanduser(unquote(parsed.netloc + parsed.path) or "~"))
    path = root / ".pulumi" / "stacks" / project / f"{stack}.pulumi-tags"
    if not path.exists():
        return {}
    where = f"stack tags file {path}"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {where}: {exc.strerror}") from exc
    except ValueError as exc:
        raise InputError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != 1:
        raise InputError(f"{where}: unsupported stack tags version (expected {{\"version\": 1, \"tags\": {{...}}}})")
    tags = doc.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise InputError(f"{where}: 'tags' must be an object of strings")
    return dict(tags)


def parse_stack_tag(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` from ``--stack-tag``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError(f"--stack-tag {text!r}: expected KEY=VALUE")
    return key.strip(), value
