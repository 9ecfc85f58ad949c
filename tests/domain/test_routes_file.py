"""The routes file (``SENDERID_ROUTES_FILE``, :mod:`senderid.routing`): what it takes, every
refusal of it as one line that says where and why, and no secret of it in any line or repr.

Pure: no database, no network. The same refusals stopping ``senderid serve`` and the other
commands with exit 2 are in tests/cli/test_routes_startup.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from senderid.routing import Route, Routes, RoutesFileError, load_routes, parse_routes
from senderid.settings import Settings
from tests.support.env import TEST_SECRET

pytestmark = pytest.mark.unit

SMPP_PASSWORD = "smpp-bind-password-71"
TWILIO_TOKEN = "twilio-auth-token-0a9f"
CELLCAST_KEY = "cellcast-api-key-5521"
INBOUND_SECRET = "cellcast-inbound-secret-c3"
WEBHOOK_SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw=="
ACCOUNT_1, ACCOUNT_2, ACCOUNT_3 = (f"65f1c0ffee00000000000a0{i}" for i in (1, 2, 3))
SECRETS = (SMPP_PASSWORD, TWILIO_TOKEN, CELLCAST_KEY, INBOUND_SECRET, WEBHOOK_SECRET)

PRIMARY = f"""[providers.primary]
kind = "smpp"
host = "10.0.0.5"
port = 2775
system_id = "acme"
password = "{SMPP_PASSWORD}"
window = 10
max_per_second = 50
"""
BACKUP = f"""[providers.backup]
kind = "twilio"
account_sid = "AC0123456789"
auth_token = "{TWILIO_TOKEN}"
from = "+61491570006"
"""
RELAY = f"""[providers.relay]
kind = "cellcast"
api_key = "{CELLCAST_KEY}"
inbound_secret = "{INBOUND_SECRET}"
"""
HOOK = f"""[providers.hook]
kind = "webhook"
provider_url = "https://sms.example.com/send"
provider_secret = "{WEBHOOK_SECRET}"
"""
ALPHA_ROUTE = """[[routes]]
sender = "alpha"
to = "+614*"
providers = ["primary", "backup"]
"""
CATCH_ALL = """[[routes]]
providers = ["backup", "primary"]
mode = "round_robin"
"""
GOOD = PRIMARY + BACKUP + ALPHA_ROUTE + CATCH_ALL


def settings(**values: object) -> Settings:
    return Settings(secret_key=TEST_SECRET, **values)


def refusal(text: str, **values: object) -> str:
    with pytest.raises(RoutesFileError) as raised:
        parse_routes(text, settings(**values), source="routes.toml")
    line = str(raised.value)
    assert "\n" not in line and line.startswith("routes.toml"), line
    for secret in SECRETS:
        assert secret not in line
    return line


# -- what a good file gives ------------------------------------------------------------------


def test_a_file_names_its_providers_and_routes_in_order() -> None:
    routes = parse_routes(GOOD + RELAY + HOOK, settings())
    assert routes.from_file
    assert {name: (p.kind, p.max_per_second) for name, p in routes.providers.items()} == {
        "primary": ("smpp", 50.0), "backup": ("twilio", 0.0), "relay": ("cellcast", 0.0), "hook": ("webhook", 0.0)}
    assert routes.routes == (
        Route(("primary", "backup"), sender="alpha", to="+614"),
        Route(("backup", "primary"), mode="round_robin"),
    )


@pytest.mark.parametrize(("sender", "to", "account", "providers"), [
    ("business_name", "+61412345678", None, ("primary", "backup")),
    ("alpha", "61412345678", "a1", ("primary", "backup")),  # the + is optional in the number
    ("business_name", "+447700900123", None, ("backup", "primary")),  # not the prefix
    ("custom_number", "+61412345678", None, ("backup", "primary")),
    ("shared", "+61412345678", None, ("backup", "primary")),
])
def test_the_first_route_that_matches_decides(sender: str, to: str, account: str | None,
                                              providers: tuple[str, ...]) -> None:
    routes = parse_routes(GOOD, settings())
    assert routes.route_for(sender, to, account).providers == providers


def test_a_route_for_some_accounts_matches_only_theirs() -> None:
    theirs = f'[[routes]]\naccounts = ["{ACCOUNT_1}", "{ACCOUNT_2}"]\nproviders = ["backup"]\n'
    text = PRIMARY + BACKUP + theirs + CATCH_ALL
    routes = parse_routes(text, settings())
    assert routes.route_for("shared", "+61412345678", ACCOUNT_2).providers == ("backup",)
    assert routes.route_for("shared", "+61412345678", ACCOUNT_3).providers == ("backup", "primary")
    assert routes.route_for("shared", "+61412345678", None).providers == ("backup", "primary")


@pytest.mark.parametrize("to", ["", "*", "+", "+*"])
def test_a_prefix_of_nothing_is_any_recipient(to: str) -> None:
    routes = parse_routes(PRIMARY + f'[[routes]]\nto = "{to}"\nproviders = ["primary"]\n', settings())
    assert routes.routes[0].to == "" and routes.routes[0].catch_all


def test_without_a_file_one_provider_named_after_its_kind_takes_everything() -> None:
    routes = Routes.single(settings(sms_provider="cellcast", cellcast_api_key=CELLCAST_KEY,
                                    provider_max_per_second=20))
    assert not routes.from_file
    assert list(routes.providers) == ["cellcast"] and routes.providers["cellcast"].max_per_second == 20
    assert routes.route_for("custom_number", "+61412345678", None).providers == ("cellcast",)


def test_a_named_provider_takes_its_settings_from_the_file_alone() -> None:
    """Nothing of the single provider's environment leaks into a named provider: not its
    secret, not its callback address."""
    deployment = settings(cellcast_inbound_secret="environment-inbound-secret",
                          cellcast_api_key="environment-api-key",
                          twilio_status_callback_url="https://sms.example.com/providers/twilio/status",
                          provider_max_per_second=7)
    text = '[providers.relay]\nkind = "cellcast"\napi_key = "file-key"\n' + BACKUP + \
           '[[routes]]\nproviders = ["relay", "backup"]\n'
    routes = parse_routes(text, deployment)
    relay = routes.providers["relay"].settings_for(deployment)
    assert (relay.sms_provider, relay.cellcast_api_key, relay.cellcast_inbound_secret) == ("cellcast", "file-key", None)
    assert relay.provider_max_per_second == 0 and relay.routes_file is None
    backup = routes.providers["backup"].settings_for(deployment)
    assert (backup.twilio_auth_token, backup.twilio_status_callback_url) == (TWILIO_TOKEN, None)
    assert backup.secret_key == TEST_SECRET  # the deployment's own settings stay


def test_no_secret_is_in_a_repr() -> None:
    routes = parse_routes(GOOD + RELAY + HOOK, settings())
    shown = repr(routes) + str(routes) + "".join(repr(p) for p in routes.providers.values())
    assert "primary" in shown and "smpp" in shown
    for secret in SECRETS:
        assert secret not in shown


# -- refusals ----------------------------------------------------------------------------------

REFUSALS = {
    "an unknown key at the top": ('default = "primary"\n' + GOOD, "unknown key 'default'"),
    "an unknown key in a provider": (GOOD.replace('host = "10.0.0.5"', 'hostname = "10.0.0.5"'),
                                     "[providers.primary]: unknown key 'hostname' for a smpp provider"),
    "a key of another kind in a provider": (GOOD.replace('from = "+61491570006"', 'from = "+61491570006"\n'
                                                         'port = 2775'),
                                            "[providers.backup]: unknown key 'port' for a twilio provider"),
    "an unknown key in a route": (GOOD.replace('mode = "round_robin"', 'mode = "round_robin"\npriority = 1'),
                                  "route 2: unknown key 'priority'"),
    "an unknown kind": (GOOD.replace('kind = "smpp"', 'kind = "kannel"'),
                        "[providers.primary]: kind 'kannel' is not one of devinbox, cellcast, twilio, smpp, webhook"),
    "no kind": (GOOD.replace('kind = "smpp"\n', ""), '[providers.primary]: no kind: add kind = "<devinbox'),
    "a route naming an unknown provider": (GOOD.replace('["primary", "backup"]', '["primary", "spare"]'),
                                           "route 1: unknown provider 'spare' (the file names primary, backup)"),
    "no route for every message": (PRIMARY + BACKUP + ALPHA_ROUTE,
                                   "no route matches every alpha message"),
    "no route for every number": (PRIMARY + BACKUP + '[[routes]]\nsender = "alpha"\nproviders = ["primary"]\n'
                                  '[[routes]]\nsender = "shared"\nproviders = ["backup"]\n',
                                  "no route matches every number message"),
    "a catch-all for some accounts only": (
        PRIMARY + f'[[routes]]\naccounts = ["{ACCOUNT_1}"]\nproviders = ["primary"]\n',
        "no route matches every alpha message"),
    "a provider without its required settings": (GOOD.replace(f'auth_token = "{TWILIO_TOKEN}"\n', ""),
                                                 "[providers.backup]: a twilio provider needs auth_token"),
    "a required setting left empty": (GOOD.replace(f'"{SMPP_PASSWORD}"', '""'),
                                      "[providers.primary]: a smpp provider needs password"),
    "a port that is not a number": (GOOD.replace("port = 2775", 'port = "smpp"'),
                                    "[providers.primary]: port: Input should be a valid integer"),
    "a port out of range": (GOOD.replace("port = 2775", "port = 70000"),
                            "[providers.primary]: port: Input should be less than or equal to 65535"),
    "a window of none": (GOOD.replace("window = 10", "window = 0"), "[providers.primary]: window:"),
    "a secret that is not text": (GOOD.replace(f'"{TWILIO_TOKEN}"', "12345678"),
                                  "[providers.backup]: auth_token: Input should be a valid string"),
    "a negative rate cap": (GOOD.replace("max_per_second = 50", "max_per_second = -1"),
                            "[providers.primary]: max_per_second must be a number of SMS parts per second"),
    "a rate cap of nan": (GOOD.replace("max_per_second = 50", "max_per_second = nan"),
                          "[providers.primary]: max_per_second must be a number"),
    "a rate cap that is text": (GOOD.replace("max_per_second = 50", 'max_per_second = "50"'),
                                "[providers.primary]: max_per_second must be a number"),
    "a base URL that is not one": (PRIMARY + RELAY.replace("[providers.relay]", '[providers.relay]\nbase_url = '
                                                           '"api.cellcast.com"') + CATCH_ALL.replace(
        '"backup", ', '"relay", '), "[providers.relay]: base_url: must be an http(s) URL"),
    "a signing secret that is not one": (PRIMARY + HOOK.replace(WEBHOOK_SECRET, "whsec_not base64!" + SMPP_PASSWORD)
                                         + '[[routes]]\nproviders = ["hook"]\n',
                                         "[providers.hook]: provider_secret: webhook secret must be 'whsec_'"),
    "a provider's name in capitals": (GOOD.replace("[providers.backup]", "[providers.Backup]"),
                                      "[providers.Backup]: a provider's name is lower-case letters"),
    "an unknown sender kind": (GOOD.replace('sender = "alpha"', 'sender = "robot"'),
                               "route 1: sender 'robot' is not one of alpha, number, shared, any"),
    "an unknown mode": (GOOD.replace('"round_robin"', '"random"'),
                        "route 2: mode 'random' is not one of failover, round_robin"),
    "a prefix that is not a number": (GOOD.replace('"+614*"', '"+61x*"'),
                                      "route 1: to '+61x*' is not a number prefix"),
    "a wildcard inside a prefix": (GOOD.replace('"+614*"', '"+6*4"'), "route 1: to '+6*4' is not a number prefix"),
    "an empty list of accounts": (GOOD.replace('to = "+614*"', "accounts = []"),
                                  "route 1: accounts must be a list of at least one account id"),
    "an account that is not an id": (GOOD.replace('to = "+614*"', f'accounts = ["{ACCOUNT_1}", "Acme"]'),
                                     "route 1: accounts: 'Acme' is not an account id (24 hex digits"),
    "an empty list of providers": (GOOD.replace('["primary", "backup"]', "[]"),
                                   "route 1: providers must be a list of at least one provider name"),
    "a provider named twice": (GOOD.replace('["primary", "backup"]', '["primary", "primary"]'),
                               "route 1: a provider is named twice"),
    "no providers": (CATCH_ALL, "no providers: name at least one as [providers.<name>]"),
    "providers that are not tables": ('providers = ["primary"]\n' + CATCH_ALL, "providers must be tables"),
    "a provider that is not a table": ('[providers]\nprimary = "smpp"\n' + CATCH_ALL,
                                       "[providers.primary]: must be a table of settings"),
    "no routes": (PRIMARY + BACKUP, "no routes: add at least one [[routes]]"),
    "one [routes] table": (PRIMARY + '[routes]\nproviders = ["primary"]\n',
                           "routes must be a list of tables: write [[routes]], not [routes]"),
    "not TOML": (GOOD.replace(f'password = "{SMPP_PASSWORD}"', f"password = {SMPP_PASSWORD}"),
                 "routes.toml: not TOML: Invalid value (at line 6, column 12)"),
    "an unterminated secret": (GOOD.replace(f'password = "{SMPP_PASSWORD}"', f'password = "{SMPP_PASSWORD}'),
                               "routes.toml: not TOML:"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_file_that_cannot_be_used_is_refused_in_one_line(case: str) -> None:
    text, expected = REFUSALS[case]
    line = refusal(text)
    assert expected in line, line


def test_a_secret_a_check_would_quote_is_masked() -> None:
    from senderid.routing import _masked

    line = _masked(f"[providers.a]: password: {SMPP_PASSWORD!r} is refused", {"password": SMPP_PASSWORD})
    assert line == "[providers.a]: password: '***' is refused"


def test_a_missing_unreadable_or_binary_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RoutesFileError, match=r"^routes file .*nope\.toml: No such file or directory$"):
        load_routes(tmp_path / "nope.toml", settings())
    binary = tmp_path / "routes.toml"
    binary.write_bytes(b"\xff\xfe[providers.a]\n")
    with pytest.raises(RoutesFileError, match=r"routes\.toml: not UTF-8 text$"):
        load_routes(binary, settings())
    with pytest.raises(RoutesFileError, match="Is a directory"):
        load_routes(tmp_path, settings())
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    assert list(load_routes(good, settings()).providers) == ["primary", "backup"]
