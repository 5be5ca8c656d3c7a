"""docs/deploy.md's files: what can be checked without a container engine or systemd as PID 1.

No image is built here (the test machines have no container engine running): the Containerfile
is held to what it promises, file by file. The systemd units go through ``systemd-analyze
verify`` when it is installed. The environment example names every variable the settings read
and cannot start until its placeholder secrets are replaced.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from controlplane.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
UNITS = ("controlplane.service", "controlplane-mail.service")


def _example() -> list[str]:
    return (DEPLOY / "controlplane.env.example").read_text().splitlines()


def _settings_lines() -> dict[str, str]:
    """The example's uncommented assignments, as an environment."""
    env = {}
    for line in _example():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    return env


def test_the_env_example_names_every_variable_the_settings_read() -> None:
    source = (ROOT / "controlplane" / "config.py").read_text()
    read = {"CONTROLPLANE_" + name for name in re.findall(r'\bget\("([A-Z_]+)"\)', source)}
    listed = {m.group(1) for line in _example() if (m := re.match(r"#?(CONTROLPLANE_\w+)=", line))}

    assert listed == read


def test_the_env_example_does_not_start_until_its_secrets_are_set(tmp_path: Path) -> None:
    env = _settings_lines()
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env(env, instance_path=str(tmp_path))
    env["CONTROLPLANE_SECRET_KEY"] = "x" * 48
    with pytest.raises(ConfigError, match="ENCRYPTION_KEYS"):
        Settings.from_env(env, instance_path=str(tmp_path))

    env["CONTROLPLANE_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
    settings = Settings.from_env(env, instance_path=str(tmp_path))

    # The rest of the example is valid as written: a token host behind one proxy.
    assert settings.serve == frozenset({"token"})
    assert settings.signing_alg == "ES256"
    assert settings.proxy_hops == 1
    assert settings.smtp is not None
    assert settings.smtp.starttls
    assert settings.database_url.startswith("postgresql+psycopg://")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Containerfile, continuation lines joined."""
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def test_the_containerfile_copies_files_that_exist_and_runs_gunicorn_as_a_user() -> None:
    steps = _instructions()
    bases = [args for keyword, args in steps if keyword == "FROM"]
    assert bases, steps
    assert all(re.match(r"python:3\.\d+-slim", base) for base in bases), bases

    for keyword, args in steps:
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _ = shlex.split(args)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"

    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "pip install --require-hashes" in runs
    assert "-r /tmp/requirements.txt" in runs
    keywords = [keyword for keyword, _ in steps]
    user_at = len(keywords) - 1 - keywords[::-1].index("USER")
    assert dict(steps)["USER"] == "controlplane"
    assert user_at < keywords.index("CMD")
    assert json.loads(dict(steps)["CMD"]) == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]


def test_the_containers_controlplane_command_is_the_declared_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["controlplane"].partition(":")

    assert f"from {module} import {function}" in (DEPLOY / "Containerfile").read_text()


@pytest.mark.parametrize("unit", UNITS)
def test_the_systemd_units_verify(unit: str, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # The units' paths, pointed at this checkout so every command they name exists here.
    text = (DEPLOY / unit).read_text()
    text = text.replace("/opt/controlplane/.venv", str(ROOT / ".venv"))
    text = text.replace("/opt/controlplane", str(ROOT))
    (tmp_path / unit).write_text(text)

    result = subprocess.run(
        [analyze, "verify", str(tmp_path / unit)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == ""
    assert "ExecStart=/opt/controlplane/.venv/bin/" in (DEPLOY / unit).read_text()
