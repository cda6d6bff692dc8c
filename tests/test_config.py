"""Config: every kind of bad input gets one line naming file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from pressroom.cli import main
from pressroom.config import load_settings
from pressroom.demo.corpus import DEMO_BASE_URL, DEMO_SITE_NAME, demo_sections
from pressroom.demo.site_config import demo_postal_address, render_demo_config
from pressroom.errors import ConfigError
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
