from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tests.config.test_settings import manage

ROOT = Path(__file__).resolve().parents[2]
ENV_READ = re.compile(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def variables_read_by_settings() -> set[str]:
    return {name for path in (ROOT / "config" / "settings").glob("*.py") for name in ENV_READ.findall(path.read_text())}


def variables_in_env_example() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_env_example_lists_every_variable_the_settings_read():
    read = variables_read_by_settings()

    assert read, "the pattern no longer finds the settings' variables"
    assert read - variables_in_env_example() == set()


def test_env_example_lists_nothing_the_settings_ignore():
    assert variables_in_env_example() - variables_read_by_settings() == set()


SNAPSHOT = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in dir(s) if k.isupper()}, default=str, sort_keys=True))"
)


def local_settings(env_file: str) -> dict:
    result = manage(
        "shell", "-c", SNAPSHOT, env={"DJANGO_SETTINGS_MODULE": "config.settings.local", "DJANGO_ENV_FILE": env_file}
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_env_example_equals_the_quick_start_defaults():
    with_example = local_settings(str(ROOT / ".env.example"))
    without = local_settings(os.devnull)

    different = {key for key in without if with_example.get(key) != without[key]}
    # A relative SQLite path in the example resolves to the same file from the project folder.
    assert different <= {"DATABASES"}
    assert Path(ROOT, with_example["DATABASES"]["default"]["NAME"]) == Path(without["DATABASES"]["default"]["NAME"])
