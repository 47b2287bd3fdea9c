"""``make mutants``: switch off one defence at a time in a scratch copy and check that the tests claiming it fail.

A suite that stays green with a defence switched off only pretends to prove it. Each mutant below edits one
defence out of a scratch copy of the working tree (the text it replaces must occur exactly once, so a mutant that
no longer applies fails loudly instead of silently testing nothing), runs the tests that claim the defence, and is
*killed* when they fail or *survives* when they pass. Usage::

    python tests/mutants.py                 # every mutant; exit status 1 when any survives
    python tests/mutants.py --only gradebook_lock_is_a_no_op --keep
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    """One defence switched off: text replacements in files, and the tests that must then fail."""

    name: str
    edits: tuple[tuple[str, str, str], ...]  # (file, old text, new text)
    tests: tuple[str, ...]


RED_TEAM = "tests/test_red_team.py"
OUTPUTS = "tests/test_red_team_outputs.py"
FILES = "tests/test_red_team_files.py"
COMMAND_ATTACKS = (RED_TEAM, "-k", "command and buys_nothing")

MUTANTS = [
    Mutant("tampering_does_not_zero_the_rest", (
        ("autograder/engine/nbgrader/execute.py", "        if self._tampered:\n            # Nothing more can be earned",
         "        if False:\n            # Nothing more can be earned"),
        ("autograder/engine/nbgrader/execute.py",
         '            cell.outputs.append(error_output("GradingIntegrityError", TAMPERED.format(names=", ".join(changed[:5]))))\n'
         "            return\n",
         "            pass\n"),
    ), (RED_TEAM, "-k", "command and tampering_zeroes")),
    Mutant("no_file_hiding_and_no_uid_drop", (
        ("autograder/engine/kernels/manager.py", "        return self.isolate_filesystem and os.geteuid() == 0",
         "        return False"),
    ), (RED_TEAM, "-k", "command and buys_nothing and (read_ or write_ or import_ or kill_)")),
    Mutant("gradebook_lock_is_a_no_op", (
        ("autograder/engine/nbgrader/preprocessors.py", "GRADEBOOK_LOCK = threading.Lock()",
         "import contextlib\nGRADEBOOK_LOCK = contextlib.nullcontext()"),
    ), ("tests/test_gradebook_lock.py",)),
    Mutant("course_feedback_settings_deleted", (
        ("nbgrader_config.py", "c.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS", ""),
    ), ("tests/test_feedback.py",)),
    Mutant("syntax_error_in_a_banked_mistake", (
        ("autograder/mistakes/tensors.py",
         "                def seeded_rand(shape, seed):\n                    torch.manual_seed(seed)\n",
         "                def seeded_rand(shape, seed):\n                    torch.manual_seed(seed))\n"),
    ), ("tests/test_mistake_bank.py",)),
    Mutant("resize_growth_not_filled", (
        ("autograder/engine/probe.py",
         "                _fill_storage(out.untyped_storage(), start, stop, out.dtype, self.round_index)",
         "                pass"),
    ), ("tests/test_uninit.py",)),
    Mutant("raising_in_some_rounds_ignored", (
        ("autograder/checks/uninit.py", "    if failing and len(failing) < len(rounds):", "    if False:"),
    ), ("tests/test_uninit.py",)),
    *[Mutant(f"{op}_not_intercepted", (
        ("autograder/engine/probe.py", f'"{op}", ', ""),
    ), ("tests/test_uninit.py",)) for op in ("empty_like", "new_empty", "empty_strided")],
    Mutant("no_network_namespace", (
        ("autograder/engine/kernels/forkserver.py", "    if limits.isolate_network:\n        reason = isolate_network()",
         "    if False:\n        reason = isolate_network()"),
    ), (RED_TEAM, "-k", "command and buys_nothing and network")),
    Mutant("no_memory_cap", (
        ("autograder/engine/kernels/sandbox.py", "    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))", "    pass"),
        ("autograder/engine/kernels/sandbox.py", '            "memory": {"memory.limit_in_bytes": str(self.limits.memory_mb * 1024 * 1024)},\n',
         ""),
    ), ("tests/test_containment.py", "-k", "memory_cap")),
    Mutant("fingerprint_never_compared", (
        ("autograder/engine/nbgrader/execute.py",
         '        return [name for name, value in self._baseline.items() if name != "audit" and current.get(name) != value]',
         "        return []"),
    ), COMMAND_ATTACKS),
    Mutant("impostor_results_accepted", (
        ("autograder/engine/probe.py", "    if _impostor(value):", "    if False:"),
        ("autograder/engine/judge.py", '    if isinstance(data, dict) and data.get("t") == "tensor" and data["class"] != "torch.Tensor":',
         "    if False:"),
    ), COMMAND_ATTACKS),
    Mutant("no_audit_hook", (
        ("autograder/engine/kernels/sandbox.py", "    sys.addaudithook(hook)", "    pass"),
    ), COMMAND_ATTACKS),
    Mutant("fingerprint_not_checked_after_judged_calls", (
        ("autograder/engine/nbgrader/execute.py",
         "            changed = self._changed_since_baseline(self._judged_cell, current)\n",
         "            changed = []\n"),
    ), (RED_TEAM, "-k", "command and buys_nothing and patch_probe_while_judged")),
    Mutant("oversized_messages_accepted", (
        ("autograder/engine/kernels/manager.py", "        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)\n", ""),
    ), (RED_TEAM, "-k", "memory_stays_flat")),
    Mutant("flags_not_kept_in_the_gradebook", (
        ("nbgrader_config.py", '    "autograder.engine.nbgrader.preprocessors.RecordFlags",\n', ""),
    ), ("tests/test_grading_day.py", "-k", "flag_is_kept or listed_again or plain_nbgrader_flags")),
    Mutant("grading_records_copied_into_feedback", (
        ("nbgrader_config.py", '                            "*.grading.json", ".autograder-graded"]', "]"),
    ), ("tests/test_grading_day.py", "-k", "feedback_holds_no_internal_file")),
    Mutant("process_cap_not_reported", (
        ("autograder/engine/kernels/manager.py", "        cap_hits = tree.process_cap_hits()  # read before the cgroup goes away",
         "        cap_hits = 0"),
    ), ("tests/test_grading_day.py", "-k", "honest_noise and process_cap")),
    Mutant("kernels_outlive_the_grader", (
        ("autograder/engine/kernels/forkserver.py", "    _exit_with_parent(signal.SIGKILL)\n", ""),
    ), ("tests/test_resume.py", "-k", "no_fork_server_or_kernel_behind")),
    Mutant("stray_processes_not_killed", (
        ("autograder/engine/kernels/sandbox.py",
         "        caller that comes back later with ``wait=True`` to see them gone.\n        \"\"\"\n",
         "        caller that comes back later with ``wait=True`` to see them gone.\n        \"\"\"\n        return 0\n"),
    ), ("tests/test_containment.py", "-k", "no_process_survives")),
    # --- inert outputs (issue 8)
    Mutant("autograde_does_not_make_notebooks_inert", (
        ("nbgrader_config.py", '    "autograder.engine.nbgrader.inert.InertNotebook",\n', ""),
    ), (OUTPUTS, "-k", "command and inert_in_the_formgrader_page")),
    Mutant("feedback_does_not_make_pages_inert", (
        ("autograder/engine/nbgrader/feedback.py", "    return [*defaults[:position], HideHiddenTests, InertNotebook, *defaults[position:]]",
         "    return [*defaults[:position], HideHiddenTests, *defaults[position:]]"),
    ), (OUTPUTS, "-k", "course_feedback_is_inert_even")),
    Mutant("html_outputs_not_sanitized", (
        ("autograder/engine/nbgrader/inert.py", "                data[mimetype] = sanitize_html(text)", "                pass"),
    ), (OUTPUTS, "-k", "command and inert_in_the_formgrader_page and (html_script or img_onerror or javascript_link)")),
    Mutant("javascript_and_svg_outputs_kept", (
        ("autograder/engine/nbgrader/inert.py", "                del data[mimetype]\n                removed.append(mimetype)",
         "                continue"),
    ), (OUTPUTS, "-k", "command and inert_in_the_formgrader_page and (javascript_output or svg_script)")),
    Mutant("markdown_cells_not_checked", (
        ("autograder/engine/nbgrader/inert.py",
         'if cell.cell_type == "markdown" and not self.markdown_is_inert(cell.source, cell.get("attachments", {})):',
         "if False:"),
    ), (OUTPUTS, "-k", "command and inert_in_the_formgrader_page and markdown_cell")),
    Mutant("style_blocks_kept", (
        ("autograder/engine/nbgrader/inert.py", "css_sanitizer=_ALIGNMENT, filters=[_DropStyleBlocks]),", "css_sanitizer=_ALIGNMENT),"),
    ), (OUTPUTS, "-k", "command and table_output")),
    Mutant("csv_text_not_neutralised", (
        ("autograder/engine/spreadsheet.py", """    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text""",
         "    return text"),
    ), (OUTPUTS, "-k", "command and csv")),
    Mutant("export_plugin_not_configured", (
        ("nbgrader_config.py", 'c.ExportApp.plugin_class = "autograder.engine.nbgrader.export.SafeCsvExport"', ""),
    ), (OUTPUTS, "-k", "command and nbgrader_export")),
    Mutant("terminal_text_not_escaped", (
        ("autograder/engine/terminal.py",
         "    return \"\".join(_escape(char) if unicodedata.category(char) in _ESCAPED_CATEGORIES else char for char in str(text))",
         "    return str(text)"),
    ), (OUTPUTS, "-k", "command and (raw_control or escape)")),
    Mutant("nbgrader_log_not_escaped", (
        ("nbgrader_config.py", '    "handlers": {"console": {"filters": ["printable"]}},\n', ""),
    ), (OUTPUTS, "-k", "plain_nbgrader and prints_no_raw_control")),
    Mutant("fixed_lines_printed_raw", (
        ("autograder/engine/grade.py", '            lines.append(f"  FIXED  {who}: {printable(repair)}")',
         '            lines.append(f"  FIXED  {who}: {repair}")'),
    ), (OUTPUTS, "-k", "command and file_name_with_escape_codes")),
    # --- files and clean room (issue 8)
    Mutant("links_are_followed", (
        ("autograder/engine/submission_files.py", "_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC",
         "_FILE_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC"),
        ("autograder/engine/submission_files.py", "            mode = os.stat(name, dir_fd=source_dir, follow_symlinks=False).st_mode",
         "            mode = os.stat(name, dir_fd=source_dir, follow_symlinks=True).st_mode"),
        ("autograder/engine/submission_files.py", "    mode = os.lstat(path).st_mode\n", "    mode = os.stat(path).st_mode\n"),
    ), (FILES, "-k", "command and refused and link")),
    Mutant("plain_nbgrader_copies_unchecked", (
        ("autograder/engine/nbgrader/submission_exporter.py",
         "            converter.init_assignment = self._checked(converter, converter.init_assignment)", "            pass"),
    ), (FILES, "-k", "plain and refused and link")),
    Mutant("notebook_read_through_links", (
        ("autograder/engine/nbgrader/submission_exporter.py", "        data = read_regular(Path(filename), self.files.max_mb << 20)",
         "        data = Path(filename).read_bytes()"),
    ), ("tests/test_submission_files.py", "-k", "exporter")),
    Mutant("special_files_skipped_not_refused", (
        ("autograder/engine/submission_files.py", "            else:\n                raise _refuse_kind(relative, mode)",
         "            else:\n                continue"),
    ), (FILES, "-k", "command and refused and (fifo or device)")),
    Mutant("no_file_count_cap", (
        ("autograder/engine/submission_files.py", "if max_files is not None and tally.entries > max_files:", "if False:"),
    ), (FILES, "-k", "command and refused and many_files")),
    Mutant("no_size_cap", (
        ("autograder/engine/submission_files.py", "        if info.st_size > budget:", "        if False:"),
        ("autograder/engine/submission_files.py", "                if copied > budget:", "                if False:"),
    ), (FILES, "-k", "command and refused and huge")),
    Mutant("kernel_home_is_its_work_folder", (
        ("autograder/engine/kernels/forkserver.py", 'request.get("home") or os.getcwd(), threads)', "os.getcwd(), threads)"),
    ), (FILES, "-k", "command and reaches_nothing and ipython_startup")),
    Mutant("profile_folders_copied_by_nbgrader", (
        ("nbgrader_config.py", '"feedback", ".ipython", ".jupyter",', '"feedback",'),
    ), (FILES, "-k", "plain and reaches_nothing and ipython_startup")),
    Mutant("fork_server_inherits_grader_environment", (
        ("autograder/engine/kernels/forkserver.py", 'env = allowed_environment(dict(os.environ), extra=("PYTHONPATH",))',
         "env = dict(os.environ)"),
    ), (FILES, "-k", "command and reaches_nothing and (secret or nbgrader_execution)")),
    Mutant("launch_request_carries_grader_environment", (
        ("autograder/engine/kernels/manager.py", 'env = allowed_environment(dict(kwargs.get("env") or os.environ))',
         'env = dict(kwargs.get("env") or os.environ)'),
    ), ("tests/test_clean_room.py", "-k", "launch_request")),
    Mutant("launch_request_kept_reachable", (
        ("autograder/engine/kernels/forkserver.py", "    request.clear()\n    status.clear()\n",
         "    global _kept_request\n    _kept_request = request\n"),
    ), (FILES, "-k", "command and reaches_nothing and launch_request")),
    Mutant("no_ipc_namespace", (
        ("autograder/engine/kernels/sandbox.py", '(CLONE_NEWIPC, "IPC namespace"), ', ""),
    ), (FILES, "-k", "command and reaches_nothing and shm")),
    Mutant("system_left_writable", (
        ("autograder/engine/kernels/sandbox.py", '        _set_read_only("/", True, recursive=True)\n', ""),
    ), (FILES, "-k", "command and reaches_nothing and world_writable")),
    Mutant("no_disk_quota", (
        ("autograder/engine/kernels/manager.py", "                    mount_room(folder, self.disk_mb, self.sandbox_uid)",
         "                    pass"),
    ), (FILES, "-k", "command and reaches_nothing and disk_quota")),
    Mutant("cgroup_tree_visible", (
        ("autograder/engine/kernels/manager.py", '"cover": [path for path in ("/sys/fs/cgroup",) if os.path.isdir(path)],',
         '"cover": [],'),
    ), (FILES, "-k", "command and reaches_nothing and cgroups")),
    Mutant("fork_server_folder_left_behind", (
        ("autograder/engine/kernels/forkserver.py", "                    remove_folder(Path(self._dir))", "                    pass"),
    ), (FILES, "-k", "command and outlives")),
    Mutant("kernel_run_folder_left_behind", (
        ("autograder/engine/kernels/manager.py", "            atexit.register(remove_folder, run)\n", ""),
    ), (FILES, "-k", "command and outlives")),
    Mutant("stale_server_folders_kept", (
        ("autograder/engine/kernels/forkserver.py", "        remove_stale(tempfile.gettempdir(), self.FOLDER_PREFIX, _legacy_server_gone)\n",
         ""),
    ), (FILES, "-k", "killed_run")),
    Mutant("stale_kernel_folders_kept", (
        ("autograder/engine/kernels/manager.py", "            remove_stale(kernels_root, _RUN_PREFIX)\n", ""),
    ), (FILES, "-k", "killed_run")),
]

ENGINE_CONTROL = (
    "kernel_home_is_its_work_folder", "profile_folders_copied_by_nbgrader", "fork_server_inherits_grader_environment",
    "launch_request_carries_grader_environment", "launch_request_kept_reachable", "no_ipc_namespace",
    "system_left_writable", "no_disk_quota", "cgroup_tree_visible",
)
"""Every clean-room layer of a kernel switched off at once: the control run of tests/test_red_team_files.py for attacks
that only this engine's own layers meet (the engine as it was before issue 8)."""


# --- judge for gradients and objects (issue 13)
JUDGE_RED_TEAM = "tests/test_red_team_judge.py"
JUDGE_TESTS = "tests/test_judge_gradients.py"
MUTANTS += [
    Mutant("second_reply_not_detected", (
        ("autograder/engine/nbgrader/execute.py", "            if received in self._answered:\n"
         '                raise IntegrityViolation(["judge channel: a second reply to an earlier request"])\n', ""),
        ("autograder/engine/nbgrader/execute.py", "            self._settle_judge_channel()\n", ""),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and forged_reply_live_nonce")),
    Mutant("replies_not_bound_to_nonce", (
        ("autograder/engine/nbgrader/execute.py", "        if received != nonce:\n", "        if False:\n"),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and forged_reply_stale_nonce")),
    Mutant("no_reply_size_cap", (
        ("autograder/engine/nbgrader/execute.py", "            if len(buffer) > MAX_REPLY_BYTES:", "            if False:"),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and oversized_reply")),
    Mutant("state_read_through_its_own_code", (
        ("autograder/engine/probe.py", "    \"\"\"Why a kept object defined in the notebook could show a state that is not its own ('' when it cannot).\"\"\"\n",
         "    return ''\n"),
        ("autograder/engine/probe.py", "    \"\"\"The attribute ``name`` as stored (instance dict, slots, a Module's parameters, buffers and submodules).\"\"\"\n",
         "    try:\n        return getattr(obj, name)\n    except AttributeError:\n        raise _NotState(name) from None\n"),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and lying_object")),
    Mutant("engine_replacement_unnoticed", (
        ("autograder/engine/probe.py", "    if counter.replaced:\n", "    if False:\n"),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and engine_restored_in_backward")),
    Mutant("disguised_results_unflagged", (
        ("autograder/engine/probe.py", "    reason = _disguise(value)\n", "    reason = ''\n"),
        ("autograder/engine/probe.py", "            if _disguise(result):", "            if False:"),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and disguised_result")),
    Mutant("trusted_functions_not_fingerprinted", (
        ("autograder/engine/probe.py",
         '        entries[f"probe.TRUSTED_FUNCTIONS[{name!r}]"] = f"{_describe(impl)}:{_describe(impl.__code__)}"\n',
         "        pass\n"),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and patched_trusted_function")),
    Mutant("batch_fingerprint_not_compared", (
        ("autograder/engine/nbgrader/execute.py", "            fingerprints = [current]\n", "            fingerprints = []\n"),
    ), (JUDGE_RED_TEAM, "-k", "command and buys_nothing and patched_trusted_function")),
    Mutant("autograd_inside_backward_not_counted", (
        ("autograder/engine/probe.py", "                    if counter.depth:\n                        counter.in_backward += 1\n", ""),
    ), (JUDGE_TESTS, "-k", "autograd_inside")),
    Mutant("replay_counts_every_threads_autograd", (
        ("autograder/diagnosis.py", "                    with probe.count_autograd_in_this_thread_only():\n",
         "                    if True:\n"),
    ), ("tests/test_diagnosis.py", "-k", "other_threads")),
    Mutant("kernel_counting_scope_not_fingerprinted", (
        ("autograder/engine/probe.py", '    entries["probe._THREADS_COUNTING_ONLY_THEMSELVES"] = (\n', "    _ = (\n"),
    ), ("tests/test_diagnosis.py", "-k", "counts_only_one_thread")),
    Mutant("raw_backward_not_inspected", (
        ("autograder/engine/gradients.py", "    if expect.raw and call.raw is not None:", "    if False:"),
    ), ("tests/test_mistake_bank.py", "-k", "linear_bias_gradient_not_summed or linear_ignores_needs_input_grad")),
    Mutant("batch_checked_only_at_its_end", (
        ("autograder/engine/nbgrader/execute.py", "        if not checked_after_each:\n", "        if True:\n"),
    ), ("tests/test_judge.py", "-k", "checked_after_each_call_sees")),
    Mutant("kernel_random_states_not_put_back", (
        ("autograder/engine/probe.py", "        _set_global_rng_states(kernel_states)\n", "        pass\n"),
    ), ("tests/test_judge.py", "-k", "random_states_are_put_back")),
    Mutant("double_backward_not_checked", (
        ("autograder/engine/gradients.py", "    if expect.second_order:", "    if False:"),
    ), ("tests/test_mistake_bank.py", "-k", "softplus_backward_under_no_grad")),
    Mutant("handles_shared_between_students", (
        ("autograder/engine/judge.py", "        return json.loads(probe.handle(self.namespace, json.dumps(request), self.objects))",
         "        return json.loads(probe.handle(self.namespace, json.dumps(request)))"),
        ("autograder/engine/judge.py",
         '        return json.loads(probe.handle(self.namespace, json.dumps({"calls": requests}), self.objects))["replies"]',
         '        return json.loads(probe.handle(self.namespace, json.dumps({"calls": requests})))["replies"]'),
        ("autograder/engine/judge.py", "        if value.channel is not channel:", "        if False:"),
    ), (JUDGE_RED_TEAM, "-k", "handle")),
]

JUDGE_CONTROL = (
    "second_reply_not_detected", "replies_not_bound_to_nonce", "no_reply_size_cap", "state_read_through_its_own_code",
    "engine_replacement_unnoticed",
)
"""The judge's defences switched off at once: the control run of tests/test_red_team_judge.py for attacks on the
channel and on what the kernel reports, which stock nbgrader (no channel at all) cannot show."""


def scratch_copy(destination: Path) -> None:
    """Copy the working tree (tracked and untracked files that git does not ignore) to ``destination``."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for relative in filter(None, listed):
        source = ROOT / relative
        if source.is_file():
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def apply(mutant: Mutant, copy: Path) -> None:
    """Make the mutant's edits in ``copy``; each replaced text must occur exactly once."""
    for relative, old, new in mutant.edits:
        path = copy / relative
        text = path.read_text(encoding="utf-8")
        count = text.count(old)
        if count != 1:
            raise SystemExit(f"mutant {mutant.name}: expected the text once in {relative}, found it {count} times:\n{old}")
        path.write_text(text.replace(old, new), encoding="utf-8")


def run(mutant: Mutant, keep: bool) -> tuple[bool, float, str]:
    """Apply ``mutant`` to a fresh scratch copy and run its tests; return (killed, seconds, last output lines)."""
    copy = Path(tempfile.mkdtemp(prefix=f"mutant-{mutant.name}-", dir=ROOT.parent))
    try:
        scratch_copy(copy)
        apply(mutant, copy)
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
        start = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                    *mutant.tests], cwd=copy, env=env, capture_output=True,
                                   text=True)
        seconds = time.perf_counter() - start
        lines = (completed.stdout + completed.stderr).strip().splitlines()
        failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
        tail = failed[0][:160] if failed else "\n".join(lines[-3:])
        selected_nothing = completed.returncode == 5
        return completed.returncode != 0 and not selected_nothing, seconds, tail
    finally:
        if keep:
            print(f"  kept {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="run only these mutants")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copies")
    parser.add_argument("--list", action="store_true", help="list the mutants and their tests")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for mutant in chosen:
            print(f"{mutant.name:<38} {' '.join(mutant.tests)}")
        return 0
    survivors = []
    for mutant in chosen:
        killed, seconds, tail = run(mutant, args.keep)
        print(f"{'killed ' if killed else 'SURVIVED'} {mutant.name:<38} {seconds:6.1f} s  ({' '.join(mutant.tests)})",
              flush=True)
        print("  " + tail.replace("\n", "\n  "))
        if not killed:
            survivors.append(mutant.name)
    print(f"{len(chosen) - len(survivors)} of {len(chosen)} mutants killed, {len(survivors)} surviving"
          + (f": {', '.join(survivors)}" if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
