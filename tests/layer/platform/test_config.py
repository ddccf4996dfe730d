"""Settings read from the environment: what is required, what is checked, what is optional."""

from __future__ import annotations

import pytest

from notify_bindings.platform.config import InvalidSettings, Settings

REQUIRED = {
    "BINDINGS_TABLE": "BindingsTable",
    "BINDING_INDEX_TABLE": "BindingIndexTable",
    "SERVICES_TABLE": "ServicesTable",
}


def test_given_the_required_variables_only_then_the_optional_settings_take_their_defaults():
    settings = Settings.from_environ(REQUIRED)

    assert settings == Settings(
        bindings_table="BindingsTable",
        binding_index_table="BindingIndexTable",
        services_table="ServicesTable",
        accounts_table=None,
        page_token_secret_arn=None,
        service_purge_queue_url=None,
        auth_cache_seconds=60,
        dynamodb_endpoint_url=None,
        sqs_endpoint_url=None,
        change_event_bus_name=None,
        events_endpoint_url=None,
        credentials_key_id=None,
        kms_endpoint_url=None,
        secretsmanager_endpoint_url=None,
        public_base_url=None,
        api_routes=(),
    )


def test_given_every_variable_then_each_setting_has_its_value():
    environ = {
        **REQUIRED,
        "ACCOUNTS_TABLE": "AccountsTable",
        "SERVICE_PURGE_QUEUE_URL": "https://sqs.example/123/Purge",
        "AUTH_CACHE_SECONDS": "0",
        "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8000",
        "SQS_ENDPOINT_URL": "http://127.0.0.1:9324",
        "CHANGE_EVENT_BUS_NAME": "binding-changes",
        "EVENTS_ENDPOINT_URL": "http://127.0.0.1:4000",
        "CREDENTIALS_KEY_ID": "arn:aws:kms:us-east-1:111122223333:key/credentials",
        "KMS_ENDPOINT_URL": "http://127.0.0.1:4002",
        "SECRETSMANAGER_ENDPOINT_URL": "http://127.0.0.1:4001",
        "PAGE_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:Pt-AbCdEf",
        "PUBLIC_BASE_URL": "https://notify.example.com",
        "API_ROUTES": " GET /v1/Services,\n POST /v1/Services , ,",
        "UNRELATED": "ignored",
    }

    settings = Settings.from_environ(environ)

    assert settings.accounts_table == "AccountsTable"
    assert settings.service_purge_queue_url == "https://sqs.example/123/Purge"
    assert settings.auth_cache_seconds == 0
    assert settings.dynamodb_endpoint_url == "http://127.0.0.1:8000"
    assert settings.sqs_endpoint_url == "http://127.0.0.1:9324"
    assert settings.change_event_bus_name == "binding-changes"
    assert settings.events_endpoint_url == "http://127.0.0.1:4000"
    assert settings.credentials_key_id == "arn:aws:kms:us-east-1:111122223333:key/credentials"
    assert settings.kms_endpoint_url == "http://127.0.0.1:4002"
    assert settings.secretsmanager_endpoint_url == "http://127.0.0.1:4001"
    assert settings.page_token_secret_arn == environ["PAGE_TOKEN_SECRET_ARN"]
    assert settings.public_base_url == "https://notify.example.com"
    assert settings.api_routes == ("GET /v1/Services", "POST /v1/Services")


def test_given_empty_variables_then_they_count_as_unset():
    environ = {**REQUIRED, "ACCOUNTS_TABLE": "", "AUTH_CACHE_SECONDS": "", "API_ROUTES": ""}

    settings = Settings.from_environ(environ)

    assert settings.accounts_table is None
    assert settings.auth_cache_seconds == 60
    assert settings.api_routes == ()


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_given_a_required_variable_missing_or_empty_then_it_is_named(missing):
    for environ in (
        {name: value for name, value in REQUIRED.items() if name != missing},
        {**REQUIRED, missing: ""},
    ):
        with pytest.raises(InvalidSettings, match=f"^{missing} is not set$"):
            Settings.from_environ(environ)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("BINDINGS_TABLE", "ab", "BINDINGS_TABLE must have at least 3 characters"),
        ("BINDING_INDEX_TABLE", "ab", "BINDING_INDEX_TABLE must have at least 3 characters"),
        ("SERVICES_TABLE", "ab", "SERVICES_TABLE must have at least 3 characters"),
        ("AUTH_CACHE_SECONDS", "-1", "AUTH_CACHE_SECONDS must be a whole number, 0 or more"),
        ("AUTH_CACHE_SECONDS", "1.5", "AUTH_CACHE_SECONDS must be a whole number, 0 or more"),
        ("AUTH_CACHE_SECONDS", "a minute", "AUTH_CACHE_SECONDS must be a whole number, 0 or more"),
        ("APNS_CONNECTIONS", "0", "APNS_CONNECTIONS must be a whole number from 1 to 32"),
        ("APNS_CONNECTIONS", "33", "APNS_CONNECTIONS must be a whole number from 1 to 32"),
        ("APNS_CONNECTIONS", "four", "APNS_CONNECTIONS must be a whole number from 1 to 32"),
    ],
)
def test_given_a_value_a_setting_cannot_have_then_the_problem_is_named(name, value, problem):
    with pytest.raises(InvalidSettings, match=f"^{problem}$"):
        Settings.from_environ({**REQUIRED, name: value})


def test_given_several_problems_then_all_are_named_at_once():
    environ = {**REQUIRED, "SERVICES_TABLE": "", "AUTH_CACHE_SECONDS": "soon"}

    with pytest.raises(InvalidSettings) as raised:
        Settings.from_environ(environ)

    assert str(raised.value) == (
        "SERVICES_TABLE is not set; AUTH_CACHE_SECONDS must be a whole number, 0 or more"
    )


def test_given_no_mapping_then_the_process_environment_is_read(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://from.environ.example")

    assert Settings.from_environ().public_base_url == "https://from.environ.example"


def test_given_settings_read_when_one_is_assigned_then_it_is_refused():
    settings = Settings.from_environ(REQUIRED)

    with pytest.raises(AttributeError):
        settings.bindings_table = "Other"  # type: ignore[misc]


@pytest.mark.parametrize(
    "value",
    ["https://notify.example.com", "http://127.0.0.1:3000", "https://notify.example.com/prod/"],
)
def test_given_an_http_url_as_public_base_url_then_it_is_taken(value):
    assert Settings.from_environ({**REQUIRED, "PUBLIC_BASE_URL": value}).public_base_url == value


@pytest.mark.parametrize(
    "value",
    [
        "javascript://evil.example/",
        "ftp://notify.example.com",
        "notify.example.com",
        "https://",
        "https://user:pass@notify.example.com",
        "https://notify.example.com?next=1",
        "https://notify.example.com#x",
        "https://notify.example.com:0",
        " https://notify.example.com",
        "https://notify example.com",
    ],
)
def test_given_anything_else_as_public_base_url_then_the_problem_is_named(value):
    with pytest.raises(
        InvalidSettings, match=r"^PUBLIC_BASE_URL must be an http:// or https:// URL"
    ):
        Settings.from_environ({**REQUIRED, "PUBLIC_BASE_URL": value})


def test_given_no_delivery_endpoints_then_they_are_the_real_hosts_the_clients_default_to():
    from notify_bindings.providers import apns, fcm, twilio_messages

    settings = Settings.from_environ(REQUIRED)

    assert settings.apns_endpoint == apns.PRODUCTION_URL
    assert settings.apns_sandbox_endpoint == apns.SANDBOX_URL
    assert settings.fcm_endpoint == fcm.FCM_URL
    assert settings.fcm_token_endpoint == fcm.GOOGLE_TOKEN_URL
    assert settings.twilio_api_endpoint == twilio_messages.TWILIO_API_URL
    assert (settings.apns_ca_file, settings.allow_local_callbacks) == (None, False)
    assert settings.apns_connections == 4


def test_given_local_delivery_endpoints_then_they_replace_the_real_hosts():
    settings = Settings.from_environ(
        {
            **REQUIRED,
            "APNS_ENDPOINT": "https://127.0.0.1:4001/",
            "APNS_SANDBOX_ENDPOINT": "https://127.0.0.1:4001",
            "FCM_ENDPOINT": "http://127.0.0.1:4002",
            "FCM_TOKEN_ENDPOINT": "http://127.0.0.1:4002/token",
            "TWILIO_API_ENDPOINT": "http://127.0.0.1:4003",
            "APNS_CA_FILE": "/tmp/ca.pem",
            "ALLOW_LOCAL_CALLBACKS": "true",
        }
    )

    assert settings.apns_endpoint == "https://127.0.0.1:4001"
    assert settings.fcm_token_endpoint == "http://127.0.0.1:4002/token"
    assert settings.twilio_api_endpoint == "http://127.0.0.1:4003"
    assert (settings.apns_ca_file, settings.allow_local_callbacks) == ("/tmp/ca.pem", True)


@pytest.mark.parametrize(
    ("name", "value"), [("FCM_ENDPOINT", "ftp://x"), ("ALLOW_LOCAL_CALLBACKS", "yes")]
)
def test_given_a_wrong_delivery_setting_then_it_is_named(name, value):
    with pytest.raises(InvalidSettings, match=name):
        Settings.from_environ({**REQUIRED, name: value})


@pytest.mark.parametrize("value", ["1", "32"])
def test_given_apns_connections_within_bounds_then_they_are_the_pools_size(value):
    settings = Settings.from_environ({**REQUIRED, "APNS_CONNECTIONS": value})

    assert settings.apns_connections == int(value)


def test_given_no_fan_out_settings_then_batches_of_1000_and_8_sends_in_flight():
    settings = Settings.from_environ(REQUIRED)

    assert (settings.delivery_batch_size, settings.sends_in_flight) == (1000, 8)


def test_given_fan_out_settings_then_they_are_taken():
    settings = Settings.from_environ(
        {**REQUIRED, "DELIVERY_BATCH_SIZE": "250", "DELIVERY_SENDS_IN_FLIGHT": "1"}
    )

    assert (settings.delivery_batch_size, settings.sends_in_flight) == (250, 1)


@pytest.mark.parametrize(
    ("name", "value", "bounds"),
    [
        ("DELIVERY_SENDS_IN_FLIGHT", "0", "from 1 to 64"),
        ("DELIVERY_SENDS_IN_FLIGHT", "65", "from 1 to 64"),
        ("DELIVERY_SENDS_IN_FLIGHT", "many", "from 1 to 64"),
        ("DELIVERY_BATCH_SIZE", "0", "from 1 to 1000"),
        ("DELIVERY_BATCH_SIZE", "1001", "from 1 to 1000"),
    ],
)
def test_given_a_fan_out_setting_out_of_range_then_the_problem_is_named(name, value, bounds):
    with pytest.raises(InvalidSettings, match=f"^{name} must be a whole number {bounds}$"):
        Settings.from_environ({**REQUIRED, name: value})
