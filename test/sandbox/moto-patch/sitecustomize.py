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

# DeleteFleets with TerminateInstances on a fleet whose instances are all ended already (a batch
# terminates its instances one by one, then deletes its fleets): AWS deletes it; moto 5.2.x asks
# TerminateInstances for no instance and fails "No instances specified". Nothing live: nothing asked.
try:
    from moto.ec2.models.fleets import Fleet as _Fleet

    _fleet_terminate = _Fleet.terminate_instances

    def _instance_of(req):
        try:
            return req.instance
        except AttributeError:
            return req["instance"]

    def _terminate_live(self):
        if any(_instance_of(r).state != "terminated" for r in self.spot_requests + self.on_demand_instances):
            _fleet_terminate(self)

    _Fleet.terminate_instances = _terminate_live
except Exception:  # moto missing or reorganised: run unpatched
    pass
