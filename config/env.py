"""The project's one `environ.Env()`: settings and `config.keys` both read through it.

A `.env` file at the repository root is read when present (never committed; see `.env.example`).
Real environment variables win over the file.
"""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
_dotenv = BASE_DIR / ".env"
if _dotenv.is_file():
    env.read_env(str(_dotenv), overwrite=False)
