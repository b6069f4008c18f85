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
