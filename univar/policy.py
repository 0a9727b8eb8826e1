"""Who may do what on this server: the operator's settings, read once per call, safe by default.

Two modes. `local`: one person on their own machine, with today's convenience (any api_base,
any file path, the trust_remote_code checkbox). `shared`: a lab server that several people reach
from their browsers: the operator's keys go only to their provider's own endpoint (or to
endpoints the operator listed for them), api_base must be on an allow-list, database files and
output folders stay inside one data folder, and remote encoder code runs only if the operator
allows it.

Where the settings come from, later wins: the defaults below, the `[univar]` table of
`.streamlit/secrets.toml`, then the environment (`UNIVAR_MODE`, `UNIVAR_DATA_DIR`,
`UNIVAR_ALLOWED_API_BASES` comma-separated, `UNIVAR_TRUST_REMOTE_CODE`, `UNIVAR_MAX_UPLOAD_MB`).
Without an explicit mode, the app is `local` when Streamlit listens on loopback only and
`shared` otherwise (Streamlit's default listens on every interface); the CLI is `local`: whoever
runs it already has the machine. Imports only paths and errors.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from univar.errors import UserError
from univar.paths import DATA_DIR, DEFAULT_DB, PROJECT_ROOT, db_path

MODES = ("local", "shared")
LOCAL_SERVER_PORT = 8010  # `python -m univar serve-local` listens here unless told otherwise
SETTINGS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"
LOOPBACK_ADDRESSES = ("localhost", "127.0.0.1", "::1")
DEFAULT_MAX_UPLOAD_MB = 200

# Each provider's own endpoints: an operator's key for that provider may go there (and, with no
# api_base at all, litellm sends it to the provider's default, which is one of these).
PROVIDER_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "openai": ("https://api.openai.com",),
    "azure": (),  # every Azure deployment has its own host: the operator lists it
    "anthropic": ("https://api.anthropic.com",),
    "gemini": ("https://generativelanguage.googleapis.com",),
    "mistral": ("https://api.mistral.ai",),
    "cohere": ("https://api.cohere.ai", "https://api.cohere.com"),
    "cohere_chat": ("https://api.cohere.ai", "https://api.cohere.com"),
    "together_ai": ("https://api.together.xyz",),
    "groq": ("https://api.groq.com",),
    "deepseek": ("https://api.deepseek.com",),
    "openrouter": ("https://openrouter.ai",),
    "fireworks_ai": ("https://api.fireworks.ai",),
    "perplexity": ("https://api.perplexity.ai",),
    "xai": ("https://api.x.ai",),
    "huggingface": ("https://api-inference.huggingface.co", "https://router.huggingface.co"),
    "replicate": ("https://api.replicate.com",),
}


def origin(url: str | None) -> str | None:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped; None for no URL."""
    if not url or not str(url).strip():
        return None
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:
        return None
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def local_server_base() -> str:
    """Where the app looks for the local LLM server: $UNIVAR_LOCAL_LLM_URL, else our port."""
    return os.environ.get("UNIVAR_LOCAL_LLM_URL") or f"http://127.0.0.1:{LOCAL_SERVER_PORT}/v1"


def _truthy(value) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Policy:
    mode: str = "local"
    data_dir: Path = DATA_DIR
    # api_bases any user may type in shared mode, beyond the providers' own and the local server
    allowed_api_bases: tuple[str, ...] = ()
    # provider -> further endpoints the operator's key for that provider may be sent to
    key_endpoints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    trust_remote_code: bool = False  # in shared mode: may an encoder's own code run at all
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"univar mode must be local or shared, got {self.mode!r}")
        if not 1 <= self.max_upload_mb <= 2048:
            raise UserError(f"max_upload_mb must be in [1, 2048], got {self.max_upload_mb}")

    @property
    def shared(self) -> bool:
        return self.mode == "shared"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    def local_server_bases(self) -> tuple[str, ...]:
        return (local_server_base(),)

    def api_base_allowed(self, api_base: str | None) -> bool:
        """May a browser user send requests to `api_base`? Always in local mode."""
        if not self.shared or api_base is None:
            return True
        here = origin(api_base)
        if here is None:
            return False
        listed = [*self.allowed_api_bases, *self.local_server_bases()]
        listed += [e for ends in PROVIDER_ENDPOINTS.values() for e in ends]
        listed += [e for ends in self.key_endpoints.values() for e in ends]
        return here in {origin(u) for u in listed}

    def operator_key_may_go(self, provider: str | None, api_base: str | None) -> bool:
        """May the server's own key for `provider` be sent to `api_base`? Only to the provider's
        own endpoints (no api_base: litellm's default for it) or those the operator listed."""
        if not provider:
            return False
        if api_base is None or not str(api_base).strip():
            return True
        own = [*PROVIDER_ENDPOINTS.get(provider, ()), *self.key_endpoints.get(provider, ())]
        return origin(api_base) in {origin(u) for u in own}

    def allows_remote_code(self) -> bool:
        return self.trust_remote_code or not self.shared

    def default_db(self) -> Path:
        """$UNIVAR_DB (the operator's choice), else the data folder's univar.duckdb in shared
        mode, else data/univar.duckdb."""
        if self.shared and not os.environ.get("UNIVAR_DB"):
            return self.data_dir / DEFAULT_DB.name
        return db_path()

    def resolve_inside(self, path, what: str = "database") -> Path:
        """Where a browser user's `path` (a database file, an output folder) may go. Local mode:
        as given. Shared mode: strictly inside the data folder, a relative name taken there,
        symlinks and `..` resolved first; anything else is refused before it is created."""
        given = Path(path)
        if not self.shared:
            return given
        data = self.data_dir.resolve()
        refused = UserError(
            f"the {what} {str(path)!r} is outside this server's data folder {data}: "
            "give a name inside it (a relative name goes there)"
        )
        try:
            full = given.expanduser()
            full = (full if full.is_absolute() else data / full).resolve()
        except (OSError, RuntimeError):  # an unknown ~user, a symlink loop
            raise refused from None
        if full == data or not full.is_relative_to(data):
            raise refused
        return full


def _file_settings(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    table = data.get("univar")
    return dict(table) if isinstance(table, dict) else {}


def load(
    *,
    server_address: str | None = None,
    app: bool = True,
    settings_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Policy:
    """The policy in force. `server_address`: Streamlit's server.address (None: every
    interface); `app=False` for the CLI, which is local unless told otherwise."""
    environ = os.environ if environ is None else environ
    raw = _file_settings(Path(settings_file) if settings_file else SETTINGS_FILE)
    for name, key in (
        ("UNIVAR_MODE", "mode"),
        ("UNIVAR_DATA_DIR", "data_dir"),
        ("UNIVAR_ALLOWED_API_BASES", "allowed_api_bases"),
        ("UNIVAR_TRUST_REMOTE_CODE", "trust_remote_code"),
        ("UNIVAR_MAX_UPLOAD_MB", "max_upload_mb"),
    ):
        if environ.get(name):
            raw[key] = environ[name]
    mode = str(raw.get("mode") or "").strip().lower()
    if not mode:
        loopback = (server_address or "").strip().lower() in LOOPBACK_ADDRESSES
        mode = "local" if (loopback or not app) else "shared"
    bases = raw.get("allowed_api_bases") or ()
    if isinstance(bases, str):
        bases = [b for b in bases.split(",") if b.strip()]
    key_endpoints = raw.get("key_endpoints") or {}
    if not isinstance(key_endpoints, dict):
        raise UserError("[univar] key_endpoints must be a table: provider = [urls]")
    data_dir = Path(raw.get("data_dir") or DATA_DIR).expanduser()
    if not data_dir.is_absolute():
        data_dir = PROJECT_ROOT / data_dir
    try:
        max_mb = int(raw.get("max_upload_mb") or DEFAULT_MAX_UPLOAD_MB)
    except (TypeError, ValueError):
        raise UserError("[univar] max_upload_mb must be a whole number of megabytes") from None
    return Policy(
        mode=mode,
        data_dir=data_dir.resolve(),
        allowed_api_bases=tuple(str(b).strip() for b in bases),
        key_endpoints={str(p): tuple(str(u) for u in us) for p, us in key_endpoints.items()},
        trust_remote_code=_truthy(raw.get("trust_remote_code", False)),
        max_upload_mb=max_mb,
    )


def given(policy: Policy | None) -> Policy:
    """`policy`, or the CLI's where a caller passes none: whoever runs univar in a shell or a
    notebook already has the machine."""
    return policy if policy is not None else load(app=False)
