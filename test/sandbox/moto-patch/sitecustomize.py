# Loaded automatically by the moto_server Python process (moto.ts puts this directory on
# PYTHONPATH). moto 5.2.x parses each MOTO_AMIS_PATH entry's creation_date *in place*, so
# only the first EC2 backend (moto_server always creates us-east-1 first) gets a string;
# every later region fails with "Parser must be a string ..., not datetime". Let the parser
# accept an already-parsed value. Harmless once moto fixes it.
import datetime

try:
    import moto.core.parse as _parse

    _original = _parse.default_timestamp_parser

    def _tolerant(value):
        return value if isinstance(value, datetime.datetime) else _original(value)

    _parse.default_timestamp_parser = _tolerant
except Exception:  # moto missing or reorganised: run unpatched
    pass

# EC2 launches nothing from a deregistered image (InvalidAMIID.NotFound); moto 5.2.x's AMI
# validation still finds it among its deleted ones and launches. As AWS does, refuse it.
try:
    from moto.ec2.exceptions import InvalidAMIIdError as _InvalidAMI
    from moto.ec2.models.instances import InstanceBackend as _Instances

    _run_instances = _Instances.run_instances

    def _run_refusing_deregistered(self, image_id, *args, **kwargs):
        if image_id in getattr(self, "deleted_amis", []):
            raise _InvalidAMI(image_id)
        return _run_instances(self, image_id, *args, **kwargs)

    _Instances.run_instances = _run_refusing_deregistered
except Exception:  # moto missing or reorganised: run unpatched
    pass

# DeleteFleets of a fleet whose instances are all ended already (an instant fleet is deleted with
# TerminateInstances=true, as EC2 requires): moto 5.2.x asks its own TerminateInstances with no id
# and fails ("No instances specified"); EC2 deletes the fleet. Terminate only when there is one.
try:
    from moto.ec2.models.fleets import Fleet as _Fleet

    _fleet_terminate = _Fleet.terminate_instances

    def _terminate_if_any(self):
        backend = self.ec2_backend
        original = backend.terminate_instances

        def _some(ids, *args, **kwargs):
            return original(ids, *args, **kwargs) if ids else []

        backend.terminate_instances = _some
        try:
            return _fleet_terminate(self)
        finally:
            del backend.terminate_instances

    _Fleet.terminate_instances = _terminate_if_any
except Exception:  # moto missing or reorganised: run unpatched
    pass
