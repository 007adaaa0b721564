"""Runs new-style transforms as the Pulumi engine does, before a registration is recorded.

Runs inside the program's interpreter (see ``_host.py``): the pulumi SDK and the standard library only.

``ResourceOptions(transforms=...)``, ``pulumi.runtime.register_resource_transform`` and
``register_invoke_transform`` hand the engine callbacks (tokens served by the SDK's callback
servicer). The engine runs, for each registration, the resource's own transforms, then each
parent's (nearest first), then the stack's in the order they were registered, each on the result of
the previous one (``RegisterResource`` in ``pkg/resource/deploy/source_eval.go``); invoke transforms
run on every invoke, in registration order. The host calls the same callbacks the same way, so the
packs judge the inputs and options that would be deployed.
"""

from __future__ import annotations

import threading
from typing import Any

from google.protobuf import struct_pb2

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"


def _callback(token: str) -> Any:
    from pulumi.runtime._callbacks import _CallbackServicer

    for servicer in _CallbackServicer._servicers:
        callback = servicer._callbacks.get(token)
        if callback is not None:
            return callback
    raise LookupError(f"transform callback {token} is not registered with the SDK")


def _run_callback(token: str, message: Any, response_type: Any) -> Any:
    from pulumi.runtime.sync_await import _sync_await

    response = _sync_await(_callback(token)(message.SerializeToString()))
    if isinstance(response, (bytes, bytearray)):
        return response_type.FromString(response)
    return response


class Transforms:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stack: list[str] = []
        self._stack_invoke: list[str] = []
        self._own: dict[str, list[str]] = {}
        self._parents: dict[str, str] = {}

    # -- registration of transforms ---------------------------------------------------------

    def add_stack_transform(self, callback: Any) -> None:
        with self._lock:
            self._stack.append(callback.token)

    def add_stack_invoke_transform(self, callback: Any) -> None:
        with self._lock:
            self._stack_invoke.append(callback.token)

    def remember(self, urn: str, parent: str, request: Any) -> None:
        """Record a registered resource's parent and own transforms, for its children."""
        with self._lock:
            if parent:
                self._parents[urn] = parent
            if request.transforms:
                self._own[urn] = [cb.token for cb in request.transforms]

    def chain(self, parent: str, request: Any) -> list[str]:
        if not (request.transforms or self._own or self._stack):
            return []  # the common case: no transform anywhere, no parent walk, no lock
        with self._lock:
            tokens = [cb.token for cb in request.transforms]
            current = parent
            while current:
                tokens.extend(self._own.get(current, ()))
                current = self._parents.get(current, "")
            tokens.extend(self._stack)
        return tokens

    # -- running them -----------------------------------------------------------------------

    def apply(self, request: Any) -> Any:
        """The registration after every applicable transform; ``request`` itself when there are none."""
        tokens = self.chain(request.parent, request)
        if not tokens:
            return request
        from pulumi.runtime.proto import resource_pb2

        props = _as_output_values(request.object, request.propertyDependencies)
        opts = _options_of(request)
        for token in tokens:
            message = resource_pb2.TransformRequest(type=request.type, name=request.name, custom=request.custom,
                                                    parent=request.parent, properties=props, options=opts)
            response = _run_callback(token, message, resource_pb2.TransformResponse)
            if response.HasField("properties"):
                props = response.properties
            if response.HasField("options"):
                opts = response.options
        return _with_options(request, _plain_values(props), opts)

    def apply_to_invoke(self, request: Any) -> Any:
        with self._lock:
            tokens = list(self._stack_invoke)
        if not tokens:
            return request
        from pulumi.runtime.proto import resource_pb2

        args = request.args
        opts = resource_pb2.TransformInvokeOptions(provider=request.provider, version=request.version,
                                                   plugin_download_url=request.pluginDownloadURL,
                                                   plugin_checksums=dict(request.pluginChecksums))
        for token in tokens:
            message = resource_pb2.TransformInvokeRequest(token=request.tok, args=args, options=opts)
            response = _run_callback(token, message, resource_pb2.TransformInvokeResponse)
            if response.HasField("args"):
                args = response.args
            if response.HasField("options"):
                opts = response.options
        out = type(request)()
        out.CopyFrom(request)
        out.args.CopyFrom(args)
        out.provider, out.version, out.pluginDownloadURL = opts.provider, opts.version, opts.plugin_download_url
        return out


def _options_of(request: Any) -> Any:
    """The options the engine hands a transform, from a registration."""
    from pulumi.runtime.proto import resource_pb2

    opts = resource_pb2.TransformResourceOptions(
        depends_on=list(request.dependencies), ignore_changes=list(request.ignoreChanges),
        replace_on_changes=list(request.replaceOnChanges), version=request.version,
        aliases=list(request.aliases), provider=request.provider,
        plugin_download_url=request.pluginDownloadURL, deleted_with=request.deletedWith,
        additional_secret_outputs=list(request.additionalSecretOutputs), providers=dict(request.providers),
        plugin_checksums=dict(request.pluginChecksums), hide_diff=list(request.hideDiffs),
        replace_with=list(request.replace_with), **{"import": request.importId})
    if request.HasField("protect"):
        opts.protect = request.protect
    if request.HasField("retainOnDelete"):
        opts.retain_on_delete = request.retainOnDelete
    if request.deleteBeforeReplaceDefined or request.deleteBeforeReplace:
        opts.delete_before_replace = request.deleteBeforeReplace
    if request.HasField("customTimeouts"):
        opts.custom_timeouts.CopyFrom(request.customTimeouts)
    if request.HasField("hooks"):
        opts.hooks.CopyFrom(request.hooks)
    if request.HasField("replacement_trigger"):
        opts.replacement_trigger.CopyFrom(request.replacement_trigger)
    return opts


def _with_options(request: Any, props: struct_pb2.Struct, opts: Any) -> Any:
    """A copy of the registration with the transformed properties and options."""
    out = type(request)()
    out.CopyFrom(request)
    out.object.CopyFrom(props)
    del out.dependencies[:]
    out.dependencies.extend(opts.depends_on)
    # The engine rebuilds property dependencies from the output values in the result; the SDK's
    # serialisation here keeps none, so each remaining property keeps what it depended on before.
    for key in list(out.propertyDependencies):
        if key not in props.fields:
            del out.propertyDependencies[key]
    known = set(out.dependencies)
    for deps in out.propertyDependencies.values():
        out.dependencies.extend(u for u in deps.urns if u not in known and not known.add(u))
    if opts.HasField("protect"):
        out.protect = opts.protect
    else:
        out.ClearField("protect")
    if opts.HasField("retain_on_delete"):
        out.retainOnDelete = opts.retain_on_delete
    else:
        out.ClearField("retainOnDelete")
    out.deleteBeforeReplaceDefined = opts.HasField("delete_before_replace")
    out.deleteBeforeReplace = opts.delete_before_replace if out.deleteBeforeReplaceDefined else False
    if opts.HasField("custom_timeouts"):
        out.customTimeouts.CopyFrom(opts.custom_timeouts)
    else:
        out.ClearField("customTimeouts")
    for field, values in (("ignoreChanges", opts.ignore_changes), ("replaceOnChanges", opts.replace_on_changes),
                          ("additionalSecretOutputs", opts.additional_secret_outputs),
                          ("hideDiffs", opts.hide_diff), ("replace_with", opts.replace_with)):
        target = getattr(out, field)
        del target[:]
        target.extend(values)
    del out.aliases[:]
    out.aliases.extend(opts.aliases)
    out.provider, out.version, out.pluginDownloadURL = opts.provider, opts.version, opts.plugin_download_url
    out.deletedWith, out.importId = opts.deleted_with, getattr(opts, "import")
    out.providers.clear()
    out.providers.update(dict(opts.providers))
    return out


def _as_output_values(props: struct_pb2.Struct, property_dependencies: Any) -> struct_pb2.Struct:
    """Properties as the engine hands them to transforms: unknowns, secrets and values with dependencies
    become output values, so the transform sees ``Output`` objects where the program had them."""
    out = struct_pb2.Struct()
    out.CopyFrom(props)
    for key, value in props.fields.items():
        deps = list(property_dependencies[key].urns) if key in property_dependencies else []
        kind = value.WhichOneof("kind")
        unknown = kind == "string_value" and value.string_value == UNKNOWN
        secret = (kind == "struct_value" and value.struct_value.fields.get(SIG_KEY) is not None
                  and value.struct_value.fields[SIG_KEY].string_value == SECRET_SIG)
        if not (unknown or secret or deps):
            continue
        wrapped = out.fields[key]
        wrapped.struct_value.Clear()
        fields = wrapped.struct_value.fields
        fields[SIG_KEY].string_value = OUTPUT_VALUE_SIG
        if secret:
            fields["secret"].bool_value = True
            if "value" in value.struct_value.fields:
                inner = value.struct_value.fields["value"]
                if not (inner.WhichOneof("kind") == "string_value" and inner.string_value == UNKNOWN):
                    fields["value"].CopyFrom(inner)
        elif not unknown:
            fields["value"].CopyFrom(value)
        if deps:
            fields["dependencies"].list_value.extend(deps)
    return out


def _plain_values(props: struct_pb2.Struct) -> struct_pb2.Struct:
    """Output values turned back into plain, unknown or secret values, as the engine downgrades them."""
    if not any(_is_output_value(v) for v in props.fields.values()):
        return props
    out = struct_pb2.Struct()
    out.CopyFrom(props)
    for key, value in props.fields.items():
        if not _is_output_value(value):
            continue
        fields = value.struct_value.fields
        plain = struct_pb2.Value()
        if "value" in fields:
            plain.CopyFrom(fields["value"])
        else:
            plain.string_value = UNKNOWN
        if fields.get("secret") is not None and fields["secret"].bool_value:
            secret = struct_pb2.Value()
            secret.struct_value.fields[SIG_KEY].string_value = SECRET_SIG
            secret.struct_value.fields["value"].CopyFrom(plain)
            plain = secret
        out.fields[key].CopyFrom(plain)
    return out


def _is_output_value(value: struct_pb2.Value) -> bool:
    return (value.WhichOneof("kind") == "struct_value" and SIG_KEY in value.struct_value.fields
            and value.struct_value.fields[SIG_KEY].string_value == OUTPUT_VALUE_SIG)
