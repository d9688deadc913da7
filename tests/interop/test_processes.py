"""Each service as a real process: health answers per service name, reflection lists the service."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from tests.support.procs import ServiceProcess, health_status


def test_every_service_reports_health_and_reflection(mesh: dict[str, ServiceProcess]) -> None:
    for name, sp in mesh.items():
        status = health_status(sp.address, sp.service_name)
        if name == "visual":
            # No image model is configured by default: the truth is NOT_SERVING (with a reason in the logs).
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING, name
        else:
            assert status == health_pb2.HealthCheckResponse.SERVING, name
        # Liveness (the Kubernetes liveness probe's target) is SERVING whatever the dependencies say.
        assert health_status(sp.address, "liveness") == health_pb2.HealthCheckResponse.SERVING, name
        with grpc.insecure_channel(sp.address) as channel:
            services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
        assert sp.service_name in services, (name, services)
        assert "grpc.health.v1.Health" in services


def test_unknown_service_name_is_reported_unknown(mesh: dict[str, ServiceProcess]) -> None:
    sp = mesh["encounter"]
    with grpc.insecure_channel(sp.address) as channel:
        from grpc_health.v1 import health_pb2_grpc

        stub = health_pb2_grpc.HealthStub(channel)
        try:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.NOT_FOUND
        else:
            raise AssertionError("health check of an unknown service should fail with NOT_FOUND")


def test_out_of_range_field_gets_invalid_argument_naming_it(mesh: dict[str, ServiceProcess]) -> None:
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    from dungeonmaster.v1 import common_pb2, encounter_pb2, encounter_pb2_grpc

    request = encounter_pb2.EvaluateEncounterRequest(
        party=common_pb2.Party(members=[common_pb2.PartyMember(level=21)]),
        creatures=[encounter_pb2.CreatureRef(monster="goblin", count=2)],
    )
    with grpc.insecure_channel(mesh["encounter"].address) as channel:
        stub = encounter_pb2_grpc.EncounterServiceStub(channel)
        try:
            stub.EvaluateEncounter(request, timeout=10)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
            status = rpc_status.from_call(err)
        else:
            raise AssertionError("level 21 must be refused")
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
    assert fields == ["party.members[0].level"], fields
