"""The command line as a user meets it: complete --help everywhere, clear errors."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from deskgate.gateway.cli.main import CHILD_COMMANDS, build_parser, main

CLI = [sys.executable, "-m", "deskgate.gateway.cli.main"]


def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subcommands(sub, (*path, name))


def test_every_subcommand_has_help_and_every_option_is_described() -> None:
    parser = build_parser()
    seen = dict(_subcommands(parser))
    assert {("serve",), ("worker",), ("token", "create"), ("agent", "add"), ("demo",)} <= set(seen)
    for path, sub in seen.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"deskgate {' '.join(path)} {action.option_strings[0]} " \
                                    "has no help text"


@pytest.mark.parametrize("command", sorted(CHILD_COMMANDS))
def test_a_child_process_command_parses_as_in_the_whole_command_line(command: str) -> None:
    """`serve`'s children build only their own group's parser: the command must be there with
    the same options as in the whole command line (else CHILD_COMMANDS names the wrong
    group)."""
    alone, whole = dict(_subcommands(build_parser(command))), dict(_subcommands(build_parser()))
    assert (command,) in alone
    options = [sorted(a.option_strings for a in p[(command,)]._actions) for p in (alone, whole)]
    assert options[0] == options[1]


@pytest.mark.parametrize("command", ["worker", "senders", "retraining-worker"])
def test_a_child_process_does_not_load_the_web_app_or_other_commands(command: str) -> None:
    # run in a fresh interpreter: this one has imported everything already
    probe = ("import sys; from deskgate.gateway.cli.main import build_parser; "
             f"build_parser({command!r}); "
             "print(sorted(m for m in ('deskgate.gateway.web.app', 'deskgate.gateway.mail.smtp', "
             "'deskgate.gateway.cli.admin', 'deskgate.gateway.cli.serve') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("path", [("serve",), ("token", "create"), ("agent", "add")])
def test_help_runs_as_a_program(path: tuple[str, ...]) -> None:
    out = subprocess.run([*CLI, *path, "--help"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and "usage: deskgate" in out.stdout


def test_token_and_agent_commands_against_a_running_redis(redis_url, prefix, tmp_path,
                                                          monkeypatch, capsys) -> None:
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    conf = tmp_path / "c.yaml"
    conf.write_text(f'redis_prefix: "{prefix}"\n')
    assert main(["token", "create", "--role", "manager", "--label", "ops",
                 "--config", str(conf)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("dgt_") and len(token) > 40
    assert main(["token", "list", "--config", str(conf)]) == 0
    listing = capsys.readouterr().out
    assert "manager" in listing and "ops" in listing and token not in listing
    assert main(["token", "create", "--role", "agent", "--config", str(conf)]) == 2
    assert "--agent-id" in capsys.readouterr().err
    assert main(["token", "create", "--role", "integration", "--account", "shop_a",
                 "--config", str(conf)]) == 0
    capsys.readouterr()
    assert main(["token", "list", "--config", str(conf)]) == 0
    assert "shop_a" in capsys.readouterr().out
    assert main(["token", "create", "--role", "manager", "--account", "shop_a",
                 "--config", str(conf)]) == 2
    assert "only an integration token" in capsys.readouterr().err
    assert main(["agent", "add", "ann", "--skills", "billing,tech:3", "--capacity", "2",
                 "--config", str(conf)]) == 0
    assert "billing:1, tech:3" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["agent", "add", "bob", "--skills", "tech:9", "--config", str(conf)])
    assert "LEVEL (1-5)" in capsys.readouterr().err


def test_a_broken_config_file_is_reported_not_a_traceback(tmp_path, redis_url, monkeypatch,
                                                          capsys) -> None:
    monkeypatch.setenv("DESKGATE_REDIS_URL", redis_url)
    conf = tmp_path / "bad.yaml"
    conf.write_text("http: {port: eighty}\n")
    assert main(["token", "list", "--config", str(conf)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "http.port" in err
