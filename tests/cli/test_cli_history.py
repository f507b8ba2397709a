"""`imagestudio history`: what the commands say back."""

from __future__ import annotations

import pytest

from imagestudio import cli


def test_history_commands_confirm_and_say_when_there_is_more(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imagestudio.core.outputs.history import HistoryStore
    from imagestudio.core.outputs.records import JobRecord

    with HistoryStore() as store:
        ids = [store.record(JobRecord(prompt=f"fox {i}", created_at=float(i))) for i in range(5)]
    assert cli.main(["history", "list", "--limit", "3"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 3 and "there are more" in err
    assert cli.main(["history", "list", "--limit", "5"]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 5 and err == ""
    assert cli.main(["history", "favourite", str(ids[0])]) == cli.EXIT_OK
    assert capsys.readouterr().out.strip() == f"Entry {ids[0]} is a favourite now."
    assert cli.main(["history", "favourite", str(ids[0]), "--off"]) == cli.EXIT_OK
    assert "no longer a favourite" in capsys.readouterr().out
    assert cli.main(["history", "delete", str(ids[1])]) == cli.EXIT_OK
    assert "picture files stay" in capsys.readouterr().out


def test_cancelled_and_failed_jobs_are_listed_only_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from imagestudio.core.outputs.history import HistoryStore
    from imagestudio.core.outputs.records import JobRecord

    with HistoryStore() as store:
        store.record(JobRecord(prompt="fox done", created_at=1.0))
        store.record(JobRecord(prompt="fox stopped", status="cancelled", created_at=2.0))
        store.record(JobRecord(prompt="fox broken", status="failed", created_at=3.0))
    for command in (["history", "list"], ["history", "search", "fox"]):
        assert cli.main(command) == cli.EXIT_OK
        assert "fox done" in (out := capsys.readouterr().out)
        assert "stopped" not in out and "broken" not in out
        assert cli.main([*command, "--all"]) == cli.EXIT_OK
        out = capsys.readouterr().out
        assert "stopped" in out and "broken" in out
