"""The resource monitor the program talks to: it records each registration as the engine would
plan it, and answers what a preview from scratch can answer offline.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.
"""

from __future__ import annotations

import base64
import threading
from typing import Any, Callable

from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.proto import provider_pb2, resource_pb2

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


class OfflineError(Exception):
    """The program asked for something that does not exist offline."""


class _NoMocks(pulumi_mocks.Mocks):
    """The SDK's mock seam, unused: the monitor answers every call itself."""

    def new_resource(self, args: Any) -> Any:  # pragma: no cover
        return "", dict(args.inputs)

    def call(self, args: Any) -> Any:  # pragma: no cover
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, options: dict[str, Any], emit: Callable[[dict[str, Any]], None], *, registrations: Any,
                 transforms: Any, shaper: Any, dynamic: Any) -> None:
        super().__init__(_NoMocks())
        self._emit = emit
        self._project, self._stack = options["project"], options["stack"]
        self._invoke_answers: dict[str, dict[str, Any]] = options.get("invokeAnswers") or {}
        self._stack_outputs: dict[str, dict[str, Any]] = options.get("stackReferenceOutputs") or {}
        self._allowed_remote = frozenset(options.get("allowRemoteComponents") or ())
        self._registrations, self._transforms, self._shaper, self._dynamic = registrations, transforms, shaper, dynamic
        self._lock = threading.Lock()
        self._seen_urns: set[str] = set()
        self._protected: dict[str, bool] = {}
        self._default_providers: dict[str, str] = {}

    # -- registrations ------------------------------------------------------------------------

    def RegisterResource(self, request: Any) -> Any:
        urn = self._urn(request.parent, request.type, request.name)
        with self._lock:
            if urn in self._seen_urns:
                raise OfflineError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
            self._seen_urns.add(urn)
        if request.remote and request.type not in self._allowed_remote:
            _refuse_remote(request)
        request = self._transforms.apply(request)
        self._transforms.remember(urn, request.parent, request)
        # As the engine does: a child that doesn't set protect inherits its parent's.
        protect = request.protect if request.HasField("protect") else self._protected.get(request.parent, False)
        self._protected[urn] = protect
        seq, source, cls = self._registrations.take(request.type, request.name)
        self._emit({
            "kind": "resource",
            "urn": urn,
            "type": request.type,
            "name": request.name,
            "custom": bool(request.custom),
            "parent": request.parent or None,
            "dependencies": list(request.dependencies),
            "propertyDependencies": {k: list(v.urns) for k, v in request.propertyDependencies.items()},
            "provider": self._provider_ref(request) or None,
            "protect": protect,
            "options": resource_options(request),
            "remote": bool(request.remote),
            "dynamicProvider": self._dynamic.take(request.type, request.name),
            "props": base64.b64encode(request.object.SerializeToString()).decode(),
            "source": source,
            "order": seq,
        })
        if request.type == ROOT_STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        # A preview carries inputs over as outputs, shaped as the provider returns them; everything
        # else (ids, generated names, principal ids) is absent, which the SDK resolves as unknown
        # during a dry run.
        outputs = self._shaper.outputs(cls, request.type, request.object) if request.custom else request.object
        return resource_pb2.RegisterResourceResponse(urn=urn, id="", object=outputs)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        return empty_pb2.Empty()

    def RegisterResourceHook(self, request: Any) -> Any:
        # Hooks act on deployment steps, which a preview from scratch doesn't take; one marked to run
        # on dry runs would run in `pulumi preview`, and the gate doesn't run it: say so.
        if request.on_dry_run:
            self._emit({"kind": "notice", "message": (
                f"resource hook '{request.name}' is marked to run during previews; crossgate doesn't run "
                "resource hooks, so what it would do is not in the plan")})
        return empty_pb2.Empty()

    def RegisterStackTransform(self, request: Any) -> Any:
        self._transforms.add_stack_transform(request)
        return empty_pb2.Empty()

    def RegisterStackInvokeTransform(self, request: Any) -> Any:
        self._transforms.add_stack_invoke_transform(request)
        return empty_pb2.Empty()

    # -- reads, invokes and calls ---------------------------------------------------------------

    def ReadResource(self, request: Any) -> Any:
        self._registrations.read()
        if request.type == "pulumi:pulumi:StackReference":
            fields = request.properties.fields
            name = fields["name"].string_value if "name" in fields else request.name
            if name not in self._stack_outputs:
                raise OfflineError(
                    f"StackReference '{name}' can't be read offline; supply its outputs with "
                    f"--stack-reference-outputs FILE ({{\"{name}\": {{\"output\": ...}}}})")
            self._emit({"kind": "invoke", "token": f"StackReference:{name}", "placeholder": False})
            props = struct_pb2.Struct()
            props.update({"name": name, "outputs": self._stack_outputs[name], "secretOutputNames": []})
            urn = self._urn(request.parent, request.type, request.name)
            return resource_pb2.ReadResourceResponse(urn=urn, properties=props)
        raise OfflineError(f"reading existing resource '{request.name}' ({request.type}, id "
                           f"{request.id}) needs the cloud; crossgate can't do it offline")

    def Invoke(self, request: Any) -> Any:
        request = self._transforms.apply_to_invoke(request)
        token = request.tok
        if token == "pulumi:pulumi:getResource":
            raise OfflineError("looking up existing resources (pulumi:pulumi:getResource) needs the cloud")
        answer = self._invoke_answers.get(token)
        self._emit({"kind": "invoke", "token": token, "placeholder": answer is not None})
        if answer is None:
            # No cloud behind it and no documented placeholder: unknown, as the engine answers an
            # invoke whose result can't be known during a preview.
            return resource_pb2.ResourceInvokeResponse(unknown=True)
        ret = struct_pb2.Struct()
        ret.update(answer)
        return resource_pb2.ResourceInvokeResponse(**{"return": ret})

    def Call(self, request: Any) -> Any:
        # A method of a resource, served by its provider: nothing answers it offline, so its result
        # is unknown, as an invoke without a placeholder.
        self._emit({"kind": "invoke", "token": request.tok, "placeholder": False})
        ret = struct_pb2.Struct()
        ret.fields["result"].string_value = UNKNOWN
        return provider_pb2.CallResponse(**{"return": ret})

    # -- naming -------------------------------------------------------------------------------

    def _urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine builds it: the parent's qualified type is prefixed, except the root stack's.
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != ROOT_STACK_TYPE:
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{self._stack}::{self._project}::{type_}::{name}"

    def _provider_ref(self, request: Any) -> str:
        if request.provider:
            return request.provider
        if not (request.custom or request.remote):
            return ""
        package = request.type.split(":")[0]
        if package == "pulumi":
            return ""
        ref = self._default_providers.get(package)
        if ref is None:
            version = (request.version or "").replace(".", "_")
            name = f"default_{version}" if version else "default"
            urn = f"urn:pulumi:{self._stack}::{self._project}::pulumi:providers:{package}::{name}"
            ref = f"{urn}::{UNKNOWN}"
            self._default_providers[package] = ref
            self._emit({"kind": "resource", "urn": urn, "type": f"pulumi:providers:{package}", "name": name,
                        "custom": True, "parent": None, "dependencies": [], "propertyDependencies": {},
                        "provider": None, "protect": False, "props": "", "source": None, "order": 0})
        return ref


def _refuse_remote(request: Any) -> None:
    package = request.type.split(":")[0]
    version = f" {request.version}" if request.version else ""
    raise OfflineError(
        f"remote component '{request.name}' ({request.type}, package {package}{version}) is constructed "
        f"by its provider at deployment, so the resources it creates can't be seen offline; accept it "
        f"with --allow-remote-component {request.type} to gate the rest of the program without them")


def resource_options(request: Any) -> dict[str, Any]:
    """The options the engine hands packs (``AnalyzerResourceOptions``), as the program set them."""
    options: dict[str, Any] = {}
    if request.ignoreChanges:
        options["ignoreChanges"] = list(request.ignoreChanges)
    if request.deleteBeforeReplaceDefined or request.deleteBeforeReplace:
        options["deleteBeforeReplace"] = bool(request.deleteBeforeReplace)
    if request.additionalSecretOutputs:
        options["additionalSecretOutputs"] = list(request.additionalSecretOutputs)
    if request.HasField("customTimeouts"):
        timeouts = {k: getattr(request.customTimeouts, k) for k in ("create", "update", "delete", "read")
                    if getattr(request.customTimeouts, k)}
        if timeouts:
            options["customTimeouts"] = timeouts
    return options
