"""The ``crossgate`` command line. Parsing only: the work happens in :mod:`crossgate.engine`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import GateError, InputError

EXIT_ERROR = 2


def _positive_seconds(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0 or value > 86400:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 and at most 86400 seconds")
    return value


def _process_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 (one per core) and 64")
    return value


def _add_pack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy-pack", action="append", default=[], metavar="DIR",
                   help="a Python CrossGuard policy pack directory (repeatable)")
    p.add_argument("--policy-pack-config", action="append", default=[], metavar="FILE",
                   help="JSON config for the pack at the same position (repeatable)")


def _add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("table", "json", "sarif", "junit", "markdown"), default="table",
                   help="what to print on stdout (default: table)")
    p.add_argument("--json", dest="json_file", metavar="FILE", help="also write the JSON document to FILE")
    p.add_argument("--sarif", metavar="FILE", help="also write SARIF 2.1.0 to FILE")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary to FILE")


def _add_gate_args(p: argparse.ArgumentParser) -> None:
    _add_pack_args(p)
    p.add_argument("--unknowns", choices=("block", "advisory"), default="block",
                   help="a mandatory policy that can't run because a value is unknown: block (default) "
                        "or report it as advisory, as `pulumi preview` does")
    p.add_argument("--timeout", type=_positive_seconds, default=600.0, metavar="SECONDS",
                   help="bound on the whole run (default 600)")
    p.add_argument("--parallel", type=_process_count, default=0, metavar="N",
                   help="processes per policy pack (default: number of cores)")
    p.add_argument("--waivers", metavar="FILE",
                   help="waivers file (default: policy-waivers.yaml in the project, if present)")
    p.add_argument("--stack-tag", action="append", default=[], metavar="KEY=VALUE",
                   help="a stack tag for the packs (repeatable); wins over the stack's own tags")
    _add_report_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crossgate",
        description="Run a Pulumi Python program offline and gate it with CrossGuard policy packs.")
    parser.add_argument("--version", action="version", version=f"crossgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    preview = sub.add_parser("preview", help="run the program offline and evaluate policy packs",
                             description="Exit 0: no mandatory violation; 1: mandatory violation; "
                                         "2: the evaluation could not complete.")
    preview.add_argument("--cwd", default=".", metavar="DIR", help="the Pulumi project directory")
    preview.add_argument("--stack", "-s", default=os.environ.get("PULUMI_STACK"), metavar="NAME",
                         help="the stack whose config to use (default: $PULUMI_STACK)")
    preview.add_argument("--stack-reference-outputs", metavar="FILE",
                         help="JSON outputs for StackReferences: {\"org/project/stack\": {...}}")
    preview.add_argument("--allow-remote-component", action="append", default=[], metavar="TYPE",
                         help="accept a remote component of this type (e.g. pkg:index:Component) although the "
                              "resources its provider creates can't be seen offline; reported (repeatable)")
    preview.add_argument("--verbose", "-v", action="store_true", help="show tracebacks and pack stderr")
    preview.add_argument("--plan-out", metavar="FILE",
                         help="write the plan for `crossgate check --plan` and run no pack")
    _add_gate_args(preview)

    check = sub.add_parser("check", help="gate a crossgate plan, a `pulumi stack export` or a "
                                         "`pulumi preview --json` file")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack-export", metavar="FILE", help="a `pulumi stack export` document")
    source.add_argument("--preview-json", metavar="FILE", help="the output of `pulumi preview --json`")
    source.add_argument("--plan", metavar="FILE", help="a plan written by `crossgate preview --plan-out`")
    check.add_argument("--cwd", default=".", metavar="DIR",
                       help="where SARIF paths and the default waivers file are resolved")
    check.add_argument("--stack", "-s", metavar="NAME",
                       help="with --plan: the stack the plan must be of (a plan of another stack is refused)")
    check.add_argument("--verbose", "-v", action="store_true")
    _add_gate_args(check)

    policies = sub.add_parser("policies", help="list a pack's policies")
    _add_pack_args(policies)
    policies.add_argument("--format", choices=("table", "json"), default="table")
    policies.add_argument("--verbose", "-v", action="store_true")
    return parser


def _pack_specs(args: argparse.Namespace):
    from .engine import pack_specs

    return pack_specs(args.policy_pack, args.policy_pack_config)


def stack_tag_args(args: argparse.Namespace) -> dict[str, str]:
    from .project import parse_stack_tag

    return dict(parse_stack_tag(text) for text in getattr(args, "stack_tag", []) or [])


def _write_reports(result, args: argparse.Namespace) -> None:
    from .report import formatter

    for name, path in (("json", args.json_file), ("sarif", args.sarif), ("junit", args.junit),
                       ("markdown", args.markdown)):
        if path:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(formatter(name)(result), encoding="utf-8")
    if args.format == "table":
        from .report.text import format_result, terminal_style

        sys.stdout.write(format_result(result, terminal_style(sys.stdout)))
    else:
        sys.stdout.write(formatter(args.format)(result))


def _progress(enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from .progress import Progress

    return Progress(sys.stderr)


def cmd_preview(args: argparse.Namespace) -> int:
    from .engine import GateOptions, preview
    from .program.runner import load_stack_reference_outputs

    if not args.stack:
        raise InputError("no stack given: pass --stack NAME (or set PULUMI_STACK)")
    if args.plan_out:
        _refuse_with_plan_out(args)
    # With --plan-out the judge decides (`check --plan`): the program's own findings travel in the
    # plan, so this half exits 0 once the plan is written, or 2 if the program or the plan failed.
    options = GateOptions(packs=_pack_specs(args), unknowns=args.unknowns, timeout=args.timeout,
                          parallel=args.parallel, progress=_progress(True), waivers=args.waivers,
                          stack_tags=stack_tag_args(args), plan_only=bool(args.plan_out))
    try:
        result = preview(args.cwd, args.stack, options,
                         stack_reference_outputs=load_stack_reference_outputs(args.stack_reference_outputs),
                         allow_remote_components=args.allow_remote_component)
    finally:
        if options.progress is not None:
            options.progress.close()
    if args.plan_out:
        from .plan import write_plan

        try:
            result = write_plan(result, args.plan_out, cwd=args.cwd, stack=args.stack)
        except GateError as exc:
            result = result.with_errors(exc.message)
    _write_reports(result, args)
    _report_errors(result, args)
    return result.exit_code


def _refuse_with_plan_out(args: argparse.Namespace) -> None:
    """`--plan-out` runs no pack: flags that only matter to a pack would be silently ignored."""
    given = [flag for flag, value in (("--policy-pack", args.policy_pack),
                                      ("--policy-pack-config", args.policy_pack_config),
                                      ("--waivers", args.waivers)) if value]
    if given:
        raise InputError(f"--plan-out runs no policy pack, so {', '.join(given)} would be ignored: judge the "
                         "plan with `crossgate check --plan FILE` and pass them there")


def _report_errors(result, args: argparse.Namespace) -> None:
    """Each error once, on stderr, after the report (the table's verdict counts them and does not
    repeat them), stripped of control characters a pack's output could carry. Details (tracebacks,
    pack stderr) follow under ``--verbose``."""
    from .report._common import one_line

    sys.stdout.flush()
    for error in result.errors:
        print(f"crossgate: error: {one_line(error)}", file=sys.stderr)
    if args.verbose:
        for detail in result.error_details:
            print(detail, file=sys.stderr)


def cmd_policies(args: argparse.Namespace) -> int:
    from .engine import describe_pack
    from .report.text import DEFAULT_WIDTH, format_policies, terminal_width

    specs = _pack_specs(args)
    if not specs:
        raise InputError("pass --policy-pack DIR")
    infos = [describe_pack(spec) for spec in specs]
    if args.format == "json":
        print(json.dumps({"packs": [_policies_doc(i) for i in infos]}, indent=2))
        return 0
    sys.stdout.write(format_policies(infos, terminal_width(sys.stdout) or DEFAULT_WIDTH))
    return 0


def _policies_doc(info) -> dict:
    """The JSON document's pack entry, plus what only this listing needs: the pack's path and each
    policy's config schema."""
    from .report.json_report import pack_doc

    doc = pack_doc(info)
    doc["path"] = info.path
    for entry, policy in zip(doc["policies"], info.policies):
        entry["configSchema"] = dict(policy.config_schema)
    return doc


def cmd_check(args: argparse.Namespace) -> int:
    from .imports import check

    result = check(args)
    _write_reports(result, args)
    _report_errors(result, args)
    return result.exit_code


def _interrupt_on_sigterm() -> None:
    """CI cancels with SIGTERM (a closed terminal sends SIGHUP): turn them into KeyboardInterrupt so
    every pack process is stopped."""
    import signal

    def handler(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


def _settle_heap() -> None:
    """Keep what is loaded out of garbage collection and collect the young generation rarely: a run
    keeps every resource of the plan alive, and full collections over it grew with the stack."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 100)


def main(argv: Sequence[str] | None = None) -> int:
    _interrupt_on_sigterm()
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = {"preview": cmd_preview, "policies": cmd_policies, "check": cmd_check}[args.command]
    _settle_heap()
    try:
        return handler(args)
    except GateError as exc:
        from .report._common import one_line

        print(f"crossgate: error: {one_line(exc.message)}", file=sys.stderr)
        if getattr(args, "verbose", False) and exc.detail:
            print(exc.detail, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("crossgate: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`crossgate policies | head`); not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0 if args.command == "policies" else EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a crash must never read as a pass
        print(f"crossgate: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if getattr(args, "verbose", False):
            import traceback

            traceback.print_exc()
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
