"""crossgate's host for a Python policy pack: ``python -u _pack_host.py <engine-address> <pack-dir>``.

Runs in the pack's own interpreter, which need not have crossgate installed, so it imports only the
standard library, the pulumi SDK and the pack's own pulumi-policy. It does what
``python -m pulumi.policy`` does (apply ``PULUMI_CONFIG`` and the stack settings, then run the pack's
``__main__.py`` with ``runpy``; the pack's ``PolicyPack(...)`` prints its port and serves), and
changes how the Analyzer service is served, never what it answers:

* the gRPC server accepts and sends messages up to 400 MB, the Pulumi SDK's and engine's limit;
* ``Analyze`` and ``AnalyzeStack`` turn each resource's properties from protobuf into Python once per
  request, not once per policy. Each policy still reads its own copy, wrapped in pulumi-policy's own
  unknown-checking proxies; the copy is made as the policy reads it, so no policy sees another's
  mutation and a policy that reads one field pays for one field.

Before the pack runs, the first line on stdout names the servicer that will serve it:
``crossgate-pack-host fast pulumi-policy <version>``, or ``crossgate-pack-host stock <reason>`` when
this pulumi-policy is not one this host was checked against (then the pack runs exactly as under
``python -m pulumi.policy``, with pulumi-policy's own servicer).
"""

import os
import sys

# `python -m pulumi.policy` starts with the working directory (the pack) first on sys.path; a script
# starts with its own folder, whose modules must never shadow the pack's.
sys.path[0] = os.getcwd()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import functools  # noqa: E402
import runpy  # noqa: E402
import traceback  # noqa: E402
from inspect import isawaitable, signature  # noqa: E402

BANNER = "crossgate-pack-host"
MAX_MESSAGE_BYTES = 400 * 1024 * 1024
GRPC_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
#: pulumi-policy releases whose servicer this host was compared against (major, minor).
KNOWN_RELEASES = {(1, 21)}
_SERVICER_HELPERS = ("_configure_runtime_settings", "_get_enforcement_level", "_create_report_violation",
                     "_map_enforcement_level", "_get_resource_options", "_get_provider_resource",
                     "_get_policy_config")
_MODULE_NAMES = ("_PolicyAnalyzerServicer", "_GRPC_CHANNEL_OPTIONS", "_NotApplicableError", "EnforcementLevel",
                 "ResourceValidationPolicy", "StackValidationPolicy", "ResourceValidationArgs",
                 "StackValidationArgs", "PolicyResource", "UnknownValueError", "deserialize_properties",
                 "unknown_checking_proxy", "json_format", "proto")


# -- a policy's own copy of a resource's properties, made as it reads ------------------------------

class _Source:
    """One resource's properties, deserialised once, when a policy first reads them; hands each
    policy a private, lazily copied view."""

    __slots__ = ("_plain", "_struct", "_sdk")

    #: ``_plain`` before the first view.
    _UNREAD = object()

    def __init__(self, struct, sdk) -> None:
        self._struct, self._sdk = struct, sdk
        self._plain = self._UNREAD

    def _deserialise(self):
        sdk = self._sdk
        return sdk.deserialize_properties(sdk.json_format.MessageToDict(self._struct))

    def lazy_view(self):
        """:meth:`view`, made when the policy first reads it: most policies of a request look at the
        type and return, so each building its own copy up front dominated ``Analyze``."""
        return _PROXIES["lazy dict"](self)

    def view(self):
        plain = self._plain
        if plain is self._UNREAD:
            fresh = self._deserialise()
            # Assets and archives are objects a policy could change in place: such a resource is
            # deserialised afresh for every policy, as pulumi-policy does.
            self._plain = plain = fresh if _is_plain(fresh) else None
            if plain is None:
                return self._sdk.unknown_checking_proxy(fresh)
        if plain is None:
            return self._sdk.unknown_checking_proxy(self._deserialise())
        return _PROXIES["dict"](_level(plain, []), [])


_SCALARS = (str, float, int, bool, type(None))
_PROXIES = {}


def _is_plain(value) -> bool:
    kind = type(value)
    if kind is dict:
        return all(_is_plain(v) for v in value.values())
    if kind is list:
        return all(_is_plain(v) for v in value)
    return kind in _SCALARS


def _level(value, path):
    """A policy's own copy of one level of a shared container, as pulumi-policy's ``_proxy_helper``
    builds it, except that each nested container is a proxy made when the policy first reads it.

    The copy holds scalars (shared, immutable) and proxies only, never a shared container, so
    nothing a policy can reach (through ``__target``, ``dict.get``, iteration, ``dict(...)``...) lets
    it change what another policy reads.
    """
    if type(value) is dict:
        return {key: (_lazy(item, [*path, str(key)]) if type(item) in (dict, list) else item)
                for key, item in value.items()}
    return [_lazy(item, [*path, str(index)]) if type(item) in (dict, list) else item
            for index, item in enumerate(value)]


def _lazy(value, path):
    return _PROXIES["lazy dict" if type(value) is dict else "lazy list"](_Nested(value, path))


class _Nested:
    """A nested container of a shared value, viewed as pulumi-policy proxies it."""

    __slots__ = ("_value", "_path")

    def __init__(self, value, path) -> None:
        self._value, self._path = value, path

    def view(self):
        proxy_class = _PROXIES["dict" if type(self._value) is dict else "list"]
        return proxy_class(_level(self._value, self._path), self._path)


def _lazy_proxy(proxy_class):
    """A pulumi-policy proxy class (``_DictProxy`` or ``_ListProxy``) whose instance is made from a
    source's ``view()`` on first use.

    Any attribute read of the instance (the proxy's own methods read its target; ``vars``, ``dir``,
    ``copy``, ``deepcopy`` and ``pickle`` read ``__dict__``, ``__reduce_ex__`` or ``__deepcopy__``)
    first makes the view, then turns the instance into a plain ``proxy_class``: from then on it is
    exactly what pulumi-policy hands a policy, and costs nothing more per read.
    """
    prefix = f"_{proxy_class.__name__.lstrip('_')}__"  # as Python mangles private names
    target_attrs = (prefix + "target", prefix + "props_acc")

    class LazyProxy(proxy_class):
        def __init__(self, source) -> None:  # noqa: D107 - the proxy's own state comes on first use
            object.__getattribute__(self, "__dict__")["_crossgate_source"] = source

        def __getattribute__(self, name):
            state = object.__getattribute__(self, "__dict__")
            source = state.get("_crossgate_source")
            if source is not None:
                made = source.view()  # if this raises, every later read raises the same way
                del state["_crossgate_source"]
                state.update({attr: made.__dict__[attr] for attr in target_attrs})
            object.__setattr__(self, "__class__", proxy_class)
            return object.__getattribute__(self, name)

    LazyProxy.__name__ = LazyProxy.__qualname__ = proxy_class.__name__
    LazyProxy.__module__ = proxy_class.__module__
    return LazyProxy


_HEAP_SETTLED = []


def _settle_heap() -> None:
    """Once the pack is loaded and configured: keep what is loaded out of garbage collection and
    collect the young generation rarely. Requests allocate many short-lived containers, and with the
    default thresholds full collections over the loaded pack, pulumi and protobuf dominated large
    ``AnalyzeStack`` calls."""
    import gc

    if _HEAP_SETTLED:
        return
    _HEAP_SETTLED.append(True)
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 20, 100)


def _no_provider():
    return None


class _Options:
    """A resource's options as pulumi-policy reads them, rebuilt per policy from values read once.

    The protobuf containers (ignoreChanges, aliases, additionalSecretOutputs) are shared by every
    policy of a request, as in pulumi-policy; the option objects themselves are each policy's own.
    """

    __slots__ = ("_cls", "_timeouts_cls", "_values", "_timeouts", "_tail")

    def __init__(self, first, sdk) -> None:
        self._cls, self._timeouts_cls = type(first), type(first.custom_timeouts)
        self._values = (first.protect, first.ignore_changes, first.delete_before_replace, first.aliases)
        t = first.custom_timeouts
        self._timeouts = (t.create_seconds, t.update_seconds, t.delete_seconds)
        self._tail = (first.additional_secret_outputs, first.parent)

    def __call__(self):
        return self._cls(*self._values, self._timeouts_cls(*self._timeouts), *self._tail)


# -- the servicer ----------------------------------------------------------------------------------

def _fast_servicer(sdk):
    """A subclass of pulumi-policy's servicer whose Analyze and AnalyzeStack deserialise once."""
    base = sdk._PolicyAnalyzerServicer
    level = sdk.EnforcementLevel
    private = "_PolicyAnalyzerServicer__"

    class StackResource(sdk.PolicyResource):
        """A stack policy's PolicyResource whose properties, options, provider and links are made when
        the policy first reads them, then kept as ordinary attributes (a stack policy usually reads a
        few resources of the whole stack). Each policy gets its own, as from pulumi-policy."""

        __slots__ = ("_shared", "_links", "_stack")

        def __init__(self, resource_type, urn, name, shared, links, stack) -> None:
            self._shared, self._links, self._stack = shared, links, stack
            self.resource_type, self.urn, self.name = resource_type, urn, name

        @functools.cached_property
        def props(self):
            return self._shared[0].view()

        @functools.cached_property
        def opts(self):
            return self._shared[1]()

        @functools.cached_property
        def provider(self):
            return self._shared[2]()

        @functools.cached_property
        def parent(self):
            index = self._links[0]
            return None if index is None else self._stack[index]

        @functools.cached_property
        def dependencies(self):
            return [self._stack[i] for i in self._links[1]]

        @functools.cached_property
        def property_dependencies(self):
            return {prop: [self._stack[i] for i in targets] for prop, targets in self._links[2]}

    StackResource.__name__ = StackResource.__qualname__ = sdk.PolicyResource.__name__

    class FastServicer(base):
        def _pack(self):
            return getattr(self, private + "policy_pack_name"), getattr(self, private + "policy_pack_version")

        def _active(self, kind):
            """(policy, level to report) for each enabled policy of ``kind``, in the pack's order.

            Levels change only through ``Configure``, which installs a new mapping of configured
            levels; the cache belongs to the mapping it was resolved under, so a request that
            resolves while a ``Configure`` lands (gRPC serves calls on several threads) can't leave
            the previous levels in force."""
            levels = getattr(self, private + "policy_pack_config_enforcement_level")
            cached = self.__dict__.get("_crossgate_active")
            if cached is None or cached[0] is not levels:
                cached = self.__dict__["_crossgate_active"] = (levels, {})
            active = cached[1].get(kind)
            if active is None:
                active = cached[1][kind] = tuple(self._resolve_active(kind))
            return active

        def _resolve_active(self, kind):
            for policy in getattr(self, private + "policies"):
                resolved = self._get_enforcement_level(policy)
                if resolved == level.DISABLED or not isinstance(policy, kind):
                    continue
                yield policy, (level.MANDATORY if resolved == level.REMEDIATE else resolved)

        def Configure(self, request, context):
            response = super().Configure(request, context)
            _settle_heap()
            return response

        def _validate(self, policy, args, report, response) -> None:
            try:
                outcome = policy.validate(args, report)
                if isawaitable(outcome):
                    loop = asyncio.new_event_loop()
                    loop.run_until_complete(asyncio.Task(outcome, loop=loop))
                    loop.close()
            except sdk.UnknownValueError as exc:
                name, version = self._pack()
                response.diagnostics.append(sdk.proto.AnalyzeDiagnostic(
                    policyName=policy.name, policyPackName=name, policyPackVersion=version,
                    message=(f"can't run policy '{policy.name}' from policy pack '{name}@v{version}' "
                             f"during preview: {exc.message}"),
                    urn="", description=policy.description,
                    enforcementLevel=self._map_enforcement_level(level.ADVISORY)))
            except sdk._NotApplicableError as exc:
                response.not_applicable.append(sdk.proto.PolicyNotApplicable(
                    policy_name=policy.name, reason=exc.reason or ""))

        def Analyze(self, request, _context):
            self._configure_runtime_settings()
            response = sdk.proto.AnalyzeResponse()
            tags = getattr(self, private + "stack_tags")
            shared = None
            for policy, reported in self._active(sdk.ResourceValidationPolicy):
                if not policy.has_validation():
                    response.not_applicable.append(sdk.proto.PolicyNotApplicable(
                        policy_name=policy.name, reason="Policy does not implement validate"))
                    continue
                report = self._create_report_violation(response, policy.name, policy.description, reported,
                                                       policy.severity)
                source, options, provider = shared = shared or self._shared(request)
                args = sdk.ResourceValidationArgs(request.type, source.lazy_view(), request.urn, request.name, options(),
                                                  provider(), self._get_policy_config(policy.name), tags)
                self._validate(policy, args, report, response)
            return response

        def _stack_plan(self, request):
            """Each resource's identity, shared reads and links (as indexes), read from the request once."""
            resources = list(request.resources)
            index = {r.urn: i for i, r in enumerate(resources)}  # a repeated URN means its last resource
            entries, links = [], []
            for r in resources:
                entries.append((r.type, r.urn, r.name, *self._shared(r)))
                links.append((index.get(r.parent),
                              [index[d] for d in r.dependencies if d in index],
                              [(prop, [index[d] for d in deps.urns if d in index])
                               for prop, deps in r.propertyDependencies.items()]))
            return entries, links

        @staticmethod
        def _stack(plan):
            """Fresh PolicyResources for one policy, linked by parent and dependencies."""
            entries, links = plan
            built = []
            built.extend([StackResource(rtype, urn, name, shared, link, built)
                          for (rtype, urn, name, *shared), link in zip(entries, links)])
            return built

        def _shared(self, r):
            """What every policy needs of resource ``r`` (properties, options, provider), read from protobuf once."""
            options = _Options(self._get_resource_options(r), sdk)
            if not r.HasField("provider"):
                return _Source(r.properties, sdk), options, _no_provider
            prov = r.provider
            props = _Source(prov.properties, sdk)
            return (_Source(r.properties, sdk), options,
                    lambda: sdk.PolicyProviderResource(prov.type, props.lazy_view(), prov.urn, prov.name))

        def AnalyzeStack(self, request, _context):
            self._configure_runtime_settings()
            response = sdk.proto.AnalyzeResponse()
            tags = getattr(self, private + "stack_tags")
            plan = None
            for policy, reported in self._active(sdk.StackValidationPolicy):
                report = self._create_report_violation(response, policy.name, policy.description, reported,
                                                       policy.severity)
                plan = plan or self._stack_plan(request)
                args = sdk.StackValidationArgs(self._stack(plan), self._get_policy_config(policy.name), tags)
                self._validate(policy, args, report, response)
            return response

    FastServicer.__name__ = FastServicer.__qualname__ = "CrossgateFastServicer"
    return FastServicer


def _release(version: str):
    try:
        major, minor = version.split(".")[:2]
        return int(major), int(minor)
    except ValueError:
        return None


def install():
    """Serve the pack with the fast servicer if this pulumi-policy is one we know: (mode, note)."""
    try:
        from pulumi_policy import policy as sdk
        from pulumi_policy import proxy
        from pulumi_policy.version import VERSION
    except Exception as exc:  # noqa: BLE001 - the pack itself will fail the same way, with its own error
        return "stock", f"cannot import pulumi_policy ({type(exc).__name__})"
    if _release(VERSION) not in KNOWN_RELEASES:
        return "stock", f"pulumi-policy {VERSION} is not a release this host was checked against"
    missing = [n for n in _MODULE_NAMES if not hasattr(sdk, n)]
    missing += [n for n in _SERVICER_HELPERS if not hasattr(sdk._PolicyAnalyzerServicer, n)]
    missing += [n for n in ("_DictProxy", "_ListProxy") if not hasattr(proxy, n)]
    for cls in (sdk.ResourceValidationArgs, sdk.StackValidationArgs):
        if "stack_tags" not in signature(cls).parameters:
            missing.append(f"{cls.__name__}(stack_tags)")
    if missing:
        return "stock", f"pulumi-policy {VERSION} lacks {', '.join(missing)}"
    _PROXIES.update({"dict": proxy._DictProxy, "list": proxy._ListProxy, "lazy dict": _lazy_proxy(proxy._DictProxy),
                     "lazy list": _lazy_proxy(proxy._ListProxy)})
    sdk._GRPC_CHANNEL_OPTIONS = list(GRPC_OPTIONS)
    # The servicer re-reads the SDK's Settings signature on every request to configure the runtime
    # the same way each time; the signature of a class doesn't change.
    if getattr(sdk, "signature", None) is signature:
        sdk.signature = functools.lru_cache(maxsize=16)(signature)
    sdk._PolicyAnalyzerServicer = _fast_servicer(sdk)
    return "fast", f"pulumi-policy {VERSION}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("engineAddress")
    parser.add_argument("program")
    parser.add_argument("--tracing", required=False, nargs=1, metavar="TRACING_FILE")
    parser.add_argument("--logtostderr", required=False, action="store_true")
    parser.add_argument("--logflow", required=False, action="store_true")
    parser.add_argument("-v", "--verbose", required=False, type=int, default=0)
    args, _ = parser.parse_known_args()

    mode, note = install()
    sys.stdout.write(f"{BANNER} {mode} {note}\n")
    sys.stdout.flush()

    import pulumi
    import pulumi.runtime

    for key, value in pulumi.runtime.get_config_env().items():
        pulumi.runtime.set_config(key, value)
    if all(k in os.environ for k in ("PULUMI_PROJECT", "PULUMI_STACK", "PULUMI_DRY_RUN")):
        pulumi.runtime.configure(pulumi.runtime.Settings(
            project=os.environ["PULUMI_PROJECT"], stack=os.environ["PULUMI_STACK"],
            dry_run=os.environ["PULUMI_DRY_RUN"] == "true",
            organization=os.environ.get("PULUMI_ORGANIZATION", "organization")))

    succeeded = False
    try:
        runpy.run_path(args.program, run_name="__main__")
        succeeded = True
    except Exception:  # noqa: BLE001 - reported as `python -m pulumi.policy` reports it
        pulumi.log.error("Program failed with an unhandled exception:\n" + traceback.format_exc())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(0 if succeeded else 1)


if __name__ == "__main__":
    main()
