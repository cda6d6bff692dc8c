"""Config: every kind of bad input gets one line naming file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressroom.cli import main
from pressroom.config import PLACEHOLDER_SECRET, load_settings, redact_url
from pressroom.demo.corpus import DEMO_BASE_URL, DEMO_SITE_NAME, demo_sections
from pressroom.demo.site_config import demo_postal_address, render_demo_config
from pressroom.errors import ConfigError
from pressroom.models import ImportanceRule
from pressroom.starter_config import placeholders_left, render_example_config


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.problems


def test_example_config_is_valid_and_complete(write_config) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(write_config(render_example_config()))
    assert settings.site.timezone == "Asia/Shanghai"
    assert [s.name for s in settings.schedules] == ["feeds", "daily", "weekly"]
    assert [(s.slug, s.name) for s in settings.sections] == [("yaowen", "要闻")]
    assert settings.web.secret is not None and len(settings.web.secret.get_secret_value()) >= 32


def test_demo_config_is_valid_and_complete(write_config) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(write_config(render_demo_config()))
    assert settings.site.timezone == "Asia/Shanghai"
    assert [s.name for s in settings.schedules] == ["feeds", "daily", "weekly"]
    assert len(settings.sections) == 22
    assert settings.site.postal_address == demo_postal_address()
    assert settings.web.secret is not None and len(settings.web.secret.get_secret_value()) >= 32
    assert "TODO" not in render_demo_config()


def test_example_configs_get_fresh_secrets() -> None:
    assert render_example_config() != render_example_config()
    assert render_demo_config() != render_demo_config()


def test_init_writes_a_neutral_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No demo section, no demo address: placeholders marked TODO that `config check` names."""
    assert main(["init", str(tmp_path / "site")]) == 0
    path = tmp_path / "site" / "pressroom.toml"
    text = path.read_text("utf-8")
    for section in demo_sections():
        assert f'"{section.slug}"' not in text and f'"{section.name}"' not in text
    assert demo_postal_address() not in text and "南五马路" not in text
    assert DEMO_SITE_NAME not in text and DEMO_BASE_URL not in text
    settings = load_settings(path)
    assert [s.slug for s in settings.sections] == ["yaowen"]
    assert text.count("# TODO:") == 5
    capsys.readouterr()
    assert main(["--config", str(path), "config", "check"]) == 0
    out = capsys.readouterr().out
    assert f"{path}: OK (1 sections, 3 schedules, store sqlite)" in out
    for key in (
        "site.name",
        "site.base_url",
        "site.postal_address",
        "sections",
        "mail.from_address",
    ):
        assert f"  {key}: " in out
    assert placeholders_left(load_settings(write_demo(tmp_path))) == []


def write_demo(folder: Path) -> Path:
    path = folder / "demo.toml"
    path.write_text(render_demo_config(), encoding="utf-8")
    return path


def test_missing_file() -> None:
    lines = problems(Path("/nonexistent/pressroom.toml"))
    assert lines == [
        "/nonexistent/pressroom.toml: config file not found (create one with `pressroom init`)"
    ]


def test_toml_syntax_error_names_line_and_column(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config('[site]\nname = "ok"\nbase_url = \n')
    (line,) = problems(path)
    assert line.startswith(f"{path}: line 3, column 12: TOML syntax error")


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ("[mail.smtp]\nport = 70000\n", "mail.smtp.port", "less than or equal to 65535"),
        ("[mail.smtp]\nprot = 25\n", "mail.smtp.prot", "unknown key"),
        ("[sitee]\nname = 'x'\n", "sitee", "unknown key"),
        (
            "[[schedules]]\nname='d'\njob='digest'\ncron='0 25 * * *'\n",
            "schedules[0].cron",
            "bad cron expression '0 25 * * *'",
        ),
        (
            "[[schedules]]\nname='d'\njob='digest'\ncron='every day'\n",
            "schedules[0].cron",
            "bad cron expression",
        ),
        (
            "[site]\ntimezone = 'Asia/Beijing'\n",
            "site.timezone",
            "unknown time zone 'Asia/Beijing'",
        ),
        (
            "[[schedules]]\nname='d'\njob='digest'\ncron='0 7 * * *'\ntimezone='Mars/Base'\n",
            "schedules[0].timezone",
            "unknown time zone",
        ),
        (
            "[[sections]]\nslug='a'\nname='甲'\n[[sections]]\nslug='a'\nname='乙'\n",
            "sections",
            "'a' is used twice",
        ),
        ("[site]\nbase_url = 'www.example.cn'\n", "site.base_url", "absolute http(s) URL"),
        ("[web]\npublic_url = 'ftp://x.cn/'\n", "web.public_url", "absolute http(s) URL"),
        ("[web]\npublic_url = 'https://x.cn:99999/'\n", "web.public_url", "1 to 65535"),
        ("[web]\npublic_url = 'https://u:p@x.cn/'\n", "web.public_url", "user name or password"),
        ("[web]\npublic_url = 'https://x.cn/?a=1'\n", "web.public_url", "query"),
        ("[web]\npublic_url = 'https://x.cn/#top'\n", "web.public_url", "fragment"),
        ("[store]\nurl = 'mysql://x'\n", "store.url", "sqlite:///"),
        ("[mail]\nfrom_address = 'nobody'\n", "mail.from_address", "not an e-mail address"),
        ("[[sections]]\nslug='Bad Slug'\nname='x'\n", "sections[0].slug", "should match pattern"),
        (
            "[[schedules]]\nname='d'\njob='mail'\ncron='0 7 * * *'\n",
            "schedules[0].job",
            "'feeds', 'digest' or 'bounces'",
        ),
    ],
)
def test_bad_values_name_the_field(write_config, body: str, field: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = write_config(body)
    lines = problems(path)
    assert any(line.startswith(f"{path}: {field}: ") and reason in line for line in lines), lines


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            "[bounces]\nsource = 'imaps://bounce:hunter2-secret@mail.example.cn/INBOX'\n",
            "bounces.source",
        ),
        ("[feeds]\nwebsub_hub = 'https://u:hunter2-secret@hub.example/'\n", "feeds.websub_hub"),
        ("[feeds]\nwebsub_hub = ['https://hunter2-secret@hub.example/']\n", "feeds.websub_hub"),
    ],
)
def test_credentials_in_urls_are_refused_and_never_echoed(
    write_config, body: str, field: str
) -> None:  # type: ignore[no-untyped-def]
    """These URLs end up in logs, public feeds and metrics labels; secrets go elsewhere."""
    path = write_config(body)
    lines = problems(path)
    assert any(line.startswith(f"{path}: {field}: ") for line in lines), lines
    assert not any("hunter2" in line for line in lines), lines


def test_all_problems_reported_at_once(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config("[site]\ntimezone='X/Y'\nbase_url='nope'\n[mail.smtp]\nport='p'\n")
    assert len(problems(path)) == 3


def test_environment_overrides_file(write_config, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path = write_config("[mail.smtp]\nhost = 'mx.example.cn'\nport = 25\n")
    monkeypatch.setenv("PRESSROOM_MAIL__SMTP__PORT", "2525")
    monkeypatch.setenv("PRESSROOM_MAIL__SMTP__PASSWORD", "hunter2-secret")
    settings = load_settings(path)
    assert settings.mail.smtp.port == 2525
    assert settings.mail.smtp.host == "mx.example.cn"
    assert settings.mail.smtp.password is not None
    assert settings.mail.smtp.password.get_secret_value() == "hunter2-secret"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_bad_environment_value_names_the_variable(
    write_config, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    path = write_config("")
    monkeypatch.setenv("PRESSROOM_MAIL__SMTP__PORT", "lots")
    (line,) = problems(path)
    assert "$PRESSROOM_MAIL__SMTP__PORT" in line and "mail.smtp.port" in line


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "site"
    sub.mkdir()
    (sub / "pressroom.toml").write_text("[feeds]\noutput_dir = 'out'\n", encoding="utf-8")
    settings = load_settings(sub / "pressroom.toml")
    assert settings.path(settings.feeds.output_dir) == sub.resolve() / "out"
    assert settings.store_url == f"sqlite:///{sub.resolve() / 'pressroom.db'}"


def test_the_digest_table_gives_the_importance_rule(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(
        "[digest]\nthreshold = 6.5\nheadline_bonus = 3\nrecommended_bonus = 1.5\n"
        "view_tiers = [{min_views = 10, bonus = 0.5}, {min_views = 900, bonus = 2}]\n"
    )
    assert load_settings(path).digest.importance == ImportanceRule(
        threshold=6.5, headline_bonus=3.0, recommended_bonus=1.5, view_tiers=((10, 0.5), (900, 2.0))
    )


def test_misfire_grace_accepts_durations(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(
        "[[schedules]]\nname='d'\njob='digest'\ncron='0 7 * * *'\nmisfire_grace='90m'\n"
    )
    assert load_settings(path).schedules[0].misfire_grace == 5400


def test_config_check_command(write_config, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    good = write_config(render_example_config())
    assert main(["--config", str(good), "config", "check"]) == 0
    assert "OK" in capsys.readouterr().out
    bad = write_config("[web]\nsecret = 'short'\n[mail.smtp]\nport = 0\n", name="bad.toml")
    assert main(["--config", str(bad), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: mail.smtp.port:" in err and f"{bad}: web.secret:" in err
    assert "short" not in err and "Traceback" not in err


def test_the_example_in_the_repository_is_current() -> None:
    """examples/pressroom.toml is what `pressroom init` writes, with a placeholder secret."""
    import re

    repo_example = Path(__file__).parents[1] / "examples" / "pressroom.toml"
    fresh = re.sub(r'^secret = ".*"$', "", render_example_config(), flags=re.M)
    assert re.sub(r'^secret = ".*"$', "", repo_example.read_text("utf-8"), flags=re.M) == fresh


def test_cron_weekdays_follow_crontab(write_config) -> None:  # type: ignore[no-untyped-def]
    """Sunday is 0 or 7 as in crontab (APScheduler 3's from_crontab would reject 7)."""
    body = "".join(
        f"[[schedules]]\nname='s{n}'\njob='feeds'\ncron='0 7 * * {day}'\n"
        for n, day in enumerate(["7", "0", "1-5", "sun"])
    )
    assert len(load_settings(write_config(body)).schedules) == 4
    bad = write_config("[[schedules]]\nname='x'\njob='feeds'\ncron='0 7 * * 8'\n", "bad.toml")
    assert "bad day of week '8'" in problems(bad)[0]


# ---------------------------------------------------------------- operator hazards (issue 10)

LONG_SECRET = "s" * 32


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--config", str(path), "config", "check"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def smtp_site(public_url: str, *, secret: str = LONG_SECRET, extra: str = "") -> str:
    return (
        f'[site]\npostal_address = "北京市东城区 1 号"\n'
        f'[mail]\ntransport = "smtp"\n{extra}'
        f'[web]\npublic_url = "{public_url}"\nsecret = "{secret}"\n'
    )


def test_the_example_placeholder_secret_is_refused(
    write_config, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Copying examples/pressroom.toml would sign links with a publicly known key."""
    example = Path(__file__).parents[1] / "examples" / "pressroom.toml"
    assert PLACEHOLDER_SECRET in example.read_text("utf-8")
    code, _out, err = check(example, capsys)
    assert code == 2
    assert f"{example}: web.secret: still the public placeholder" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("PRESSROOM_WEB__SECRET", PLACEHOLDER_SECRET)
    code, _out, err = check(write_config(render_example_config()), capsys)
    assert code == 2 and "(from $PRESSROOM_WEB__SECRET): web.secret: still the public" in err


@pytest.mark.parametrize(("length", "code"), [(16, 2), (31, 2), (32, 0), (43, 0)])
def test_config_check_wants_a_secret_of_32_characters(
    write_config, capsys: pytest.CaptureFixture[str], length: int, code: int
) -> None:  # type: ignore[no-untyped-def]
    secret = "k" * length
    path = write_config(f'[web]\nsecret = "{secret}"\n')
    got, _out, err = check(path, capsys)
    assert got == code, err
    if code:
        assert f"{path}: web.secret: must be at least 32 characters" in err
    assert secret not in err


@pytest.mark.parametrize(
    ("transport", "public_url", "refused"),
    [
        ("smtp", "http://news.example.org/", "is not https"),
        ("smtp", "http://127.0.0.1:8080/", "loopback"),
        ("smtp", "https://127.0.0.1/", "loopback"),
        ("smtp", "https://localhost:8443/", "loopback"),
        ("smtp", "https://[::1]/", "loopback"),
        ("smtp", "https://0x7f000001/", "loopback"),
        ("smtp", "https://2130706433/", "loopback"),
        ("smtp", "https://127.1/", "loopback"),
        ("smtp", "https://localhost./", "loopback"),
        ("smtp", "https://[::ffff:127.0.0.1]/", "loopback"),
        ("smtp", "https://10.1.2.3/", "private"),
        ("smtp", "https://192.168.0.10/", "private"),
        ("smtp", "https://[fd00::1]/", "private"),
        ("smtp", "https://169.254.169.254/", "link-local"),
        ("smtp", "https://[fe80::1]/", "link-local"),
        ("smtp", "https://8.8.8.8/", None),
        ("smtp", "https://news.example.org/", None),
        ("file", "http://127.0.0.1:8080/", None),
        ("file", "https://news.example.org/", None),
    ],
)
def test_mail_links_must_be_https_with_the_smtp_transport(
    write_config,
    capsys: pytest.CaptureFixture[str],
    transport: str,
    public_url: str,
    refused: str | None,
) -> None:  # type: ignore[no-untyped-def]
    """RFC 8058: the one-click unsubscribe URL in every mail must be https (and reachable)."""
    body = smtp_site(public_url).replace('transport = "smtp"', f'transport = "{transport}"')
    path = write_config(body)
    code, _out, err = check(path, capsys)
    if refused is None:
        assert code == 0, err
        assert "web.public_url" not in err
    else:
        assert code == 2
        (line,) = err.strip().splitlines()
        assert line.startswith(f"{path}: web.public_url: {public_url}") and refused in line


@pytest.mark.parametrize(
    ("extra", "refused"),
    [
        ('return_path = "bounces@mail.example.org"\n[bounces]\naddress_fallback = true\n', True),
        ('return_path = "bounces@mail.example.org"\n', False),
        ("[bounces]\naddress_fallback = true\n", False),
    ],
    ids=["fallback-with-verp", "verp-only", "fallback-without-verp"],
)
def test_config_check_refuses_address_fallback_with_a_return_path(
    write_config, capsys: pytest.CaptureFixture[str], extra: str, refused: bool
) -> None:  # type: ignore[no-untyped-def]
    """With VERP every real bounce has a token; a token-less one is anyone's forgery."""
    path = write_config(smtp_site("https://news.example.org/", extra=extra))
    code, _out, err = check(path, capsys)
    assert (code == 2) is refused, err
    assert ("bounces.address_fallback: true while [mail] return_path" in err) is refused


def test_config_check_warns_without_postal_address_or_dkim(
    write_config, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bare = write_config(smtp_site("https://news.example.org/").replace("北京市东城区 1 号", ""))
    code, _out, err = check(bare, capsys)
    assert code == 0
    assert f"{bare}: warning: site.postal_address: empty" in err
    assert f"{bare}: warning: mail.dkim: not configured" in err
    dkim = '[mail.dkim]\ndomain = "example.org"\nselector = "s1"\nkey_file = "dkim.key"\n'
    complete = write_config(smtp_site("https://news.example.org/", extra=""), "complete.toml")
    complete.write_text(complete.read_text("utf-8").replace("[web]", dkim + "[web]"), "utf-8")
    code, _out, err = check(complete, capsys)
    assert code == 0 and "warning" not in err, err


@pytest.mark.slow
def test_config_files_are_written_for_the_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """They hold the web secret: init (also --force over a 0644 file) and demo write 0600."""
    assert main(["init", str(tmp_path / "site")]) == 0
    config = tmp_path / "site" / "pressroom.toml"
    assert config.stat().st_mode & 0o777 == 0o600
    config.chmod(0o644)
    assert main(["init", "--force", str(tmp_path / "site")]) == 0
    assert config.stat().st_mode & 0o777 == 0o600
    assert not list(config.parent.glob(".*.tmp"))
    assert main(["demo", str(tmp_path / "demo")]) == 0
    assert (tmp_path / "demo" / "pressroom.toml").stat().st_mode & 0o777 == 0o600
    capsys.readouterr()


@pytest.mark.slow
@pytest.mark.postgres
def test_init_and_demo_never_print_a_store_password(
    tmp_path: Path,
    pg_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    password = "s3cret-Passw0rd"
    url = pg_url.replace("postgres@", f"postgres:{password}@", 1)
    assert password in url
    monkeypatch.setenv("PRESSROOM_STORE__URL", url)
    assert main(["init", str(tmp_path / "site")]) == 0
    out = capsys.readouterr()
    assert "store ready: postgresql+psycopg://postgres:***@127.0.0.1" in out.out
    assert password not in out.out + out.err
    assert main(["demo", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr()
    assert "postgresql+psycopg://postgres:***@" in out.out
    assert password not in out.out + out.err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://postgres:pw@db:5432/news",
            "postgresql+psycopg://postgres:***@db:5432/news",
        ),
        ("postgresql://u:p%40ss@h/d?sslmode=require", "postgresql://u:***@h/d?sslmode=require"),
        ("postgresql+psycopg://postgres@h/d", "postgresql+psycopg://postgres@h/d"),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("sqlite:////var/lib/pressroom.db", "sqlite:////var/lib/pressroom.db"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redis_url_and_busy_timeout_settings(write_config) -> None:  # type: ignore[no-untyped-def]
    path = write_config(
        '[store]\nbusy_timeout = 2.5\n[web]\nredis_url = "redis://127.0.0.1:6379/3"\n'
    )
    settings = load_settings(path)
    assert settings.store.busy_timeout == 2.5
    assert settings.web.redis_url is not None
    assert settings.web.redis_url.get_secret_value() == "redis://127.0.0.1:6379/3"
    bad = write_config('[web]\nredis_url = "127.0.0.1:6379"\n', "bad.toml")
    assert problems(bad) == [
        f"{bad}: web.redis_url: must start with redis://, rediss:// or unix://"
    ]
