"""flowstone materialize / list / history: output, exit codes and error paragraphs."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.cli.conftest import DAILY

Invoke = Callable[..., Result]


def test_materialize_everything_then_history(invoke: Invoke, project: Path) -> None:
    result = invoke("materialize", "-f", "pipeline.py")
    assert result.exit_code == 0, result.output
    assert "success: 3 success" in result.output
    assert (project / ".flowstone" / "flowstone.db").exists()
    assert (project / ".flowstone" / "storage" / "total").is_dir()

    history = invoke("history", "numbers", "--json")
    records = json.loads(history.output)
    assert [r["status"] for r in records] == ["success"]
    assert records[0]["metadata"] == {"row_count": 3}


def test_materialize_json_lists_each_selected_item(invoke: Invoke) -> None:
    result = invoke("materialize", "-f", "pipeline.py", "+doubled", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["status"] == "success"
    assert [item["asset"] for item in payload["items"]] == ["numbers", "doubled"]


def test_selection_by_group_and_tag(invoke: Invoke) -> None:
    payload = json.loads(invoke("materialize", "-f", "pipeline.py", "group:raw", "--json").output)
    assert [item["asset"] for item in payload["items"]] == ["numbers"]
    result = invoke("materialize", "-f", "pipeline.py", "tag:tier=gold", "--json")
    payload = json.loads(result.output)
    assert [item["asset"] for item in payload["items"]] == ["doubled"]


def test_failing_asset_exits_1_and_records_the_failure(invoke: Invoke, project: Path) -> None:
    source = (project / "pipeline.py").read_text()
    (project / "pipeline.py").write_text(source.replace("return sum(doubled)", "return 1 / 0"))
    result = invoke("materialize", "-f", "pipeline.py")
    assert result.exit_code == 1
    assert "ZeroDivisionError" in result.output
    records = json.loads(invoke("history", "total", "--json").output)
    assert records[0]["status"] == "failed"
    assert "ZeroDivisionError: division by zero" in records[0]["error"]
    assert not (project / ".flowstone" / "storage" / "total").exists()


def test_unknown_selection_exits_2_with_a_hint(invoke: Invoke) -> None:
    result = invoke("materialize", "-f", "pipeline.py", "doubeld")
    assert result.exit_code == 2
    assert "doubled" in result.output
    assert "Traceback" not in result.output


def test_unknown_dependency_exits_2_with_did_you_mean(invoke: Invoke, project: Path) -> None:
    source = (project / "pipeline.py").read_text()
    (project / "pipeline.py").write_text(
        source.replace('"raw")', '"raw")\n', 1)
        .replace("depends_on=[doubled]", 'depends_on=["doubld"]')
        .replace("def total(doubled", "def total(doubld")
    )
    result = invoke("materialize", "-f", "pipeline.py")
    assert result.exit_code == 2
    assert "Did you mean 'doubled'?" in result.output
    assert "pipeline.py:" in result.output
    assert "Traceback" not in result.output


def test_cycle_in_the_module_exits_2(invoke: Invoke, project: Path) -> None:
    source = (project / "pipeline.py").read_text()
    (project / "pipeline.py").write_text(
        source.replace(
            '@asset(group="raw")\ndef numbers(context: AssetContext)',
            '@asset(group="raw", depends_on=["total"])\n'
            "def numbers(context: AssetContext, total: int)",
        )
    )
    result = invoke("materialize", "-f", "pipeline.py")
    assert result.exit_code == 2
    assert "CycleError" in result.output
    assert re.search(
        r"total \(pipeline\.py:\d+\) -> numbers \(pipeline\.py:\d+\) -> "
        r"doubled \(pipeline\.py:\d+\) -> total",
        " ".join(result.output.split()),
    ), result.output


def test_missing_definitions_and_bad_file_exit_2(invoke: Invoke, project: Path) -> None:
    assert invoke("materialize").exit_code == 2
    assert invoke("materialize", "-f", "nowhere.py").exit_code == 2
    (project / "broken.py").write_text("import not_a_module_anywhere\n")
    result = invoke("materialize", "-f", "broken.py")
    assert result.exit_code == 2
    assert "ModuleNotFoundError" in result.output


def test_module_from_pyproject_settings(invoke: Invoke, project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.flowstone]\nmodule = "pipeline"\n')
    result = invoke("materialize", "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["items"]) == 3


def test_list_shows_assets_in_order(invoke: Invoke) -> None:
    rows = json.loads(invoke("list", "-f", "pipeline.py", "--json").output)
    assert [row["asset"] for row in rows] == ["numbers", "doubled", "total"]
    assert rows[1]["depends_on"] == ["numbers"]
    assert rows[0]["source"].startswith("pipeline.py:")


def test_history_of_an_asset_never_run(invoke: Invoke) -> None:
    result = invoke("history", "numbers")
    assert result.exit_code == 0
    assert "No materializations recorded for 'numbers'" in result.output


def test_asset_logs_are_shown_at_the_chosen_level(invoke: Invoke, project: Path) -> None:
    (project / "talker.py").write_text(
        "from flowstone import AssetContext, asset\n\n"
        "@asset\ndef talker(context: AssetContext) -> int:\n"
        "    context.log.info('read %d rows', 42)\n    return 1\n"
    )
    assert "read 42 rows" in invoke("materialize", "-f", "talker.py").output
    quiet = invoke("--log-level", "warning", "materialize", "-f", "talker.py")
    assert quiet.exit_code == 0
    assert "read 42 rows" not in quiet.output


def test_history_takes_the_definitions_like_every_command(invoke: Invoke, project: Path) -> None:
    assert invoke("materialize", "-f", "pipeline.py").exit_code == 0
    by_file = invoke("history", "-f", "pipeline.py", "numbers", "--json")
    assert by_file.exit_code == 0, by_file.output
    assert [r["status"] for r in json.loads(by_file.output)] == ["success"]
    by_module = invoke("history", "-m", "pipeline", "doubled")
    assert by_module.exit_code == 0, by_module.output
    assert "history of doubled" in by_module.output


def test_history_with_definitions_suggests_a_misspelt_asset(invoke: Invoke) -> None:
    result = invoke("history", "-f", "pipeline.py", "doubeld")
    assert result.exit_code == 2
    assert "'doubled'" in result.output
    assert "Traceback" not in result.output


def test_history_cuts_a_long_metadata_value_in_the_table_only(
    invoke: Invoke, project: Path
) -> None:
    preview = "row " + "x" * 500 + " [end]"
    (project / "wide.py").write_text(
        "from flowstone import AssetContext, asset\n\n"
        "@asset\ndef wide(context: AssetContext) -> int:\n"
        f"    context.add_metadata(preview={preview!r}, rows=2)\n    return 1\n"
    )
    assert invoke("materialize", "-f", "wide.py").exit_code == 0
    table = invoke("history", "wide").output
    assert "preview=row xxx" in table
    assert "rows=2" in table
    assert "x" * 100 not in table.replace("\n", "")
    assert "…" in table
    [record] = json.loads(invoke("history", "wide", "--json").output)
    assert record["metadata"]["preview"] == preview


def test_materialize_recovers_a_deleted_stored_value_and_says_so(
    invoke: Invoke, project: Path
) -> None:
    (project / "daily.py").write_text(textwrap.dedent(DAILY))
    assert invoke("materialize", "-f", "daily.py", "raw", "--all-partitions").exit_code == 0
    stored = project / ".flowstone" / "storage" / "raw" / "2024-01-02.pickle"
    stored.unlink()

    result = invoke("materialize", "-f", "daily.py", "*clean", "--all-partitions")

    assert result.exit_code == 0, result.output
    assert "recovered: raw[2024-01-02] (stored value missing:" in result.output
    assert stored.exists()
    history = invoke("history", "raw", "--partition", "2024-01-02").output
    assert re.search(r"\blost\b.*stored value missing", history)
    stored.unlink()
    (project / "daily.py").write_text(textwrap.dedent(DAILY).replace("raw * 2", "raw * 3"))
    payload = json.loads(
        invoke("materialize", "-f", "daily.py", "*clean", "--all-partitions", "--json").output
    )
    assert payload["status"] == "success"
    [recovered] = payload["recovered"]
    assert (recovered["asset"], recovered["partition"]) == ("raw", "2024-01-02")
    assert "does not exist" in recovered["reason"]


def test_status_verify_reports_a_deleted_stored_value_as_lost(
    invoke: Invoke, project: Path
) -> None:
    (project / "daily.py").write_text(textwrap.dedent(DAILY))
    assert invoke("materialize", "-f", "daily.py", "*clean", "--all-partitions").exit_code == 0
    (project / ".flowstone" / "storage" / "raw" / "2024-01-02.pickle").unlink()

    plain = json.loads(invoke("status", "-f", "daily.py", "--json").output)
    assert plain["all_fresh"] and plain["lost"] == [] and not plain["verified"]
    checked = json.loads(invoke("status", "-f", "daily.py", "--verify", "--json").output)
    assert checked["verified"] and not checked["all_fresh"]
    [lost] = checked["lost"]
    assert (lost["asset"], lost["partition"]) == ("raw", "2024-01-02")
    assert "no stored value" in lost["reason"]
    statuses = {(i["asset"], i["partition"]): i["status"] for i in checked["items"]}
    assert statuses["raw", "2024-01-02"] == "missing"
    assert statuses["clean", "2024-01-02"] == "upstream_stale"
    assert statuses["raw", "2024-01-03"] == "fresh"
    table = invoke("status", "-f", "daily.py", "--verify")
    assert table.exit_code == 0
    assert "lost: raw[2024-01-02]" in table.output
