"""Secrets at rest (brands' webhook secrets): Fernet tokens under a key ring from the environment.

`REPLY_SECRETS_KEY` holds one or more Fernet keys, comma-separated, newest first (cryptography's
MultiFernet): the newest encrypts, every key decrypts, so a key is rotated by putting the new one first,
running `python -m service rotate-secrets` (re-encrypts every secret with the newest; also done at each
start), then removing the old key. Without the variable a key is generated once into
`REPLY_DATA_DIR/secrets.key` (mode 0600): right for one host (SQLite lives in the same folder); with
PostgreSQL every replica must share the key, so set the variable there (a warning says so at start).

A stored value that still starts with `whsec_` is a plaintext secret from before encryption: it is read as
is and encrypted by the next rotation (migration 0007 encrypts them on upgrade).
"""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.ext.asyncio import AsyncSession

from service.adapters.webhooks import SECRET_PREFIX
from service.config import Settings

log = structlog.get_logger("service.crypto")
KEY_FILE = "secrets.key"


class SecretsKeyError(RuntimeError):
    """A stored secret cannot be decrypted with any configured key (a key was removed too early)."""


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("a SecretBox needs at least one key")
        self._newest = Fernet(keys[0])
        self._ring = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, secret: str) -> str:
        return self._ring.encrypt(secret.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if is_plaintext(stored):
            return stored
        try:
            return self._ring.decrypt(stored.encode()).decode()
        except InvalidToken as exc:
            raise SecretsKeyError(
                "a stored webhook secret does not decrypt with any key in REPLY_SECRETS_KEY"
            ) from exc

    def is_current(self, stored: str) -> bool:
        """Encrypted with the newest key (nothing for a rotation to do)."""
        if is_plaintext(stored):
            return False
        try:
            self._newest.decrypt(stored.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, stored: str) -> str:
        """The value encrypted with the newest key (plaintext is encrypted, older tokens re-encrypted)."""
        if is_plaintext(stored):
            return self.encrypt(stored)
        try:
            return self._ring.rotate(stored.encode()).decode()
        except InvalidToken as exc:
            raise SecretsKeyError(
                "a stored webhook secret does not decrypt with any key in REPLY_SECRETS_KEY"
            ) from exc


def is_plaintext(stored: str) -> bool:
    return stored.startswith(SECRET_PREFIX)


def load_keys(settings: Settings) -> list[str]:
    """The configured keys, or the data folder's generated key (made on first use)."""
    if settings.secrets_key:
        return list(settings.secrets_key)
    path = settings.data_dir / KEY_FILE
    if settings.resolved_database_url.startswith("postgresql"):
        log.warning(
            "REPLY_SECRETS_KEY is not set: webhook secrets are encrypted with a key file in the data "
            "folder; every replica on this database must use the same key, so set REPLY_SECRETS_KEY"
        )
    return [_key_file(path)]


def _key_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    try:
        # O_EXCL: two processes starting together keep one key; the loser reads the winner's
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def box_for(settings: Settings) -> SecretBox:
    return SecretBox(load_keys(settings))


async def rotate_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every brand's webhook secret with the newest key; returns how many changed. Each row
    changes only if nobody changed it meanwhile (an admin's PATCH wins over a rotation)."""
    from service.models import Brand

    rows = (
        await session.execute(
            sa.select(Brand.id, Brand.webhook_secret).where(Brand.webhook_secret.isnot(None))
        )
    ).all()
    changed = 0
    for brand_id, stored in rows:
        if stored is None or box.is_current(stored):
            continue
        result = await session.execute(
            sa.update(Brand)
            .where(Brand.id == brand_id, Brand.webhook_secret == stored)
            .values(webhook_secret=box.rotate(stored))
            .execution_options(synchronize_session=False)
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed
