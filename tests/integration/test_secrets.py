"""Webhook secrets at rest: the database holds a Fernet token, never the `whsec_` secret; deliveries are
still signed with the secret (checked at the receiver by the Standard Webhooks library); a key rotation
(new key first, `python -m service rotate-secrets`, old key removed) keeps deliveries working; migration
0007 encrypts the plaintext secrets of an older database."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from service import crypto, db
from service.config import Settings
from tests.conftest import Api
from tests.fakes.receiver import WebhookReceiver, verified

ROOT = Path(__file__).resolve().parents[2]
K1, K2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()


async def _stored_secrets(api: Api) -> list[str]:
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessionmaker() as session:
        return [str(v) for v in (await session.scalars(sa.text("SELECT webhook_secret FROM brands"))).all()]


async def _post_and_verify(api: Api, receiver: WebhookReceiver, secret: str, external_id: str) -> None:
    integration = await api.key("integration", ["shop"])
    await api.send_post(integration, external_id, "Do you ship to Switzerland?")

    def mine() -> list[dict[str, Any]]:
        return [d for d in receiver.received if json.loads(d["body"])["data"]["external_id"] == external_id]

    await api.poll("/health", {}, lambda _: bool(mine()), 30)
    body = verified(secret, mine()[0])  # raises unless signed with the brand's secret
    assert body["data"]["external_id"] == external_id


async def test_column_holds_a_token_and_deliveries_verify(
    make_client: Any, receiver: WebhookReceiver
) -> None:
    api: Api = await make_client(secrets_key=[K1], qdrant_path=":memory:")
    brand = await api.brand("shop", webhook={"url": receiver.url})
    secret = brand["webhook"]["secret"]
    (stored,) = await _stored_secrets(api)
    assert not stored.startswith("whsec_") and secret not in stored and secret[6:] not in stored
    assert Fernet(K1).decrypt(stored.encode()).decode() == secret
    await _post_and_verify(api, receiver, secret, "s-1")
    # a secret the admin gives is stored encrypted too
    given = "whsec_" + "A" * 43 + "="
    patched = await api.client.patch(
        "/v1/brands/shop", json={"webhook": {"url": receiver.url, "secret": given}}, headers=api.admin
    )
    assert patched.status_code == 200, patched.text
    (stored,) = await _stored_secrets(api)
    assert "whsec_" not in stored and Fernet(K1).decrypt(stored.encode()).decode() == given
    await _post_and_verify(api, receiver, given, "s-2")


async def _rotate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, waited for off the event loop (the apps' workers run on it
    and may hold the SQLite write lock the command waits for)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REPLY_")}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "service", "rotate-secrets"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_rotation_keeps_deliveries_working(
    make_client: Any, receiver: WebhookReceiver, tmp_path: Path, database_url: str
) -> None:
    first: Api = await make_client(secrets_key=[K1], qdrant_path=":memory:", workers=0)
    secret = (await first.brand("shop", webhook={"url": receiver.url}))["webhook"]["secret"]
    (old_token,) = await _stored_secrets(first)

    # 1. the new key goes first; the old one still decrypts, so deliveries go on while replicas restart
    second: Api = await make_client(secrets_key=[K2, K1], qdrant_path=":memory:")
    await _post_and_verify(second, receiver, secret, "r-1")

    # 2. rotate-secrets re-encrypts with the newest key. A start does so too (the second app's did):
    # put the old token back, as a brand written by a replica still on the old keys would be.
    runtime = second.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:
        await session.execute(sa.text("UPDATE brands SET webhook_secret = :t"), {"t": old_token})
    env = {
        "REPLY_DATABASE_URL": database_url,
        "REPLY_DATA_DIR": str(tmp_path),
        "REPLY_SECRETS_KEY": f"{K2},{K1}",
    }
    done = await _rotate(env)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1 " in done.stdout, done.stdout
    (token,) = await _stored_secrets(second)
    assert token != old_token and Fernet(K2).decrypt(token.encode()).decode() == secret
    with pytest.raises(InvalidToken):
        Fernet(K1).decrypt(token.encode())

    # 3. the old key is removed: deliveries still verify at the receiver
    third: Api = await make_client(secrets_key=[K2], qdrant_path=":memory:")
    await _post_and_verify(third, receiver, secret, "r-2")

    # a key removed before the rotation is a loud error, naming the variable, never a silent failure
    lost = await _rotate({**env, "REPLY_SECRETS_KEY": Fernet.generate_key().decode()})
    assert lost.returncode == 1 and "REPLY_SECRETS_KEY" in lost.stderr


async def test_rotate_command_encrypts_plaintext_left_from_before(
    make_client: Any, receiver: WebhookReceiver, tmp_path: Path, database_url: str
) -> None:
    api: Api = await make_client(secrets_key=[K1], qdrant_path=":memory:", workers=0)
    secret = (await api.brand("shop", webhook={"url": receiver.url}))["webhook"]["secret"]
    runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.transaction() as session:
        await session.execute(sa.text("UPDATE brands SET webhook_secret = :s"), {"s": secret})
    env = {"REPLY_DATABASE_URL": database_url, "REPLY_DATA_DIR": str(tmp_path), "REPLY_SECRETS_KEY": K1}
    done = await _rotate(env)
    assert done.returncode == 0 and "re-encrypted 1 " in done.stdout, (done.stdout, done.stderr)
    (stored,) = await _stored_secrets(api)
    assert Fernet(K1).decrypt(stored.encode()).decode() == secret


def _upgrade(connection: Connection, revision: str, keys: list[str]) -> None:
    command.upgrade(db._alembic_config(connection, keys), revision)


async def test_migration_encrypts_existing_plaintext_secrets(database_url: str) -> None:
    url = Settings(_env_file=None, database_url=database_url).resolved_database_url  # type: ignore[call-arg]
    engine = create_async_engine(url)
    secret = "whsec_" + "B" * 43 + "="
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, "0005", [])
            await conn.execute(
                sa.text(
                    "INSERT INTO brands (id, slug, name, language, timezone, holidays, sla_minutes, voice,"
                    " channels, settings, webhook_url, webhook_secret, webhook_disabled, created_at,"
                    " updated_at) VALUES ('b1', 'shop', 'Shop', 'en', 'UTC', '[]', '{}', '{}', '{}', '{}',"
                    " 'http://127.0.0.1:9/h', :s, false, '2024-01-01', '2024-01-01')"
                ),
                {"s": secret},
            )
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, "head", [K1])
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.text("SELECT webhook_secret FROM brands"))).scalar_one()
        assert not stored.startswith("whsec_") and Fernet(K1).decrypt(stored.encode()).decode() == secret
        assert crypto.SecretBox([K1]).decrypt(stored) == secret
    finally:
        await engine.dispose()


def test_without_a_key_one_is_made_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    (key,) = crypto.load_keys(settings)
    path = tmp_path / crypto.KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert crypto.load_keys(settings) == [key]  # the same key on the next start
    box = crypto.SecretBox([key])
    token = box.encrypt("whsec_x")
    assert box.decrypt(token) == "whsec_x" and "whsec_" not in token


def test_a_bad_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError) as caught:
        Settings(_env_file=None, secrets_key="not-a-fernet-key-at-all")  # type: ignore[call-arg]
    assert "REPLY_SECRETS_KEY" in str(caught.value) and "not-a-fernet-key-at-all" not in str(caught.value)
    assert json.dumps(Settings(_env_file=None, secrets_key=f"{K2}, {K1}").secrets_key) == json.dumps([K2, K1])  # type: ignore[call-arg]
