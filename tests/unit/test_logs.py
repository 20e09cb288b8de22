import io
import json
import logging

from eoharvest.domain.redaction import SECRETS
from eoharvest.entrypoints.logs import configure_logging

CANARY = "CANARY-TOKEN-91c2"


def _capture(json_lines=False):
    stream = io.StringIO()
    configure_logging("DEBUG", json_lines=json_lines, stream=stream)
    return stream


def test_secrets_never_reach_the_log_output_even_in_arguments_and_tracebacks():
    stream = _capture()
    SECRETS.add(CANARY)
    try:
        log = logging.getLogger("eoharvest.test")
        log.info("sending headers %s", {"Authorization": f"Bearer {CANARY}"})
        try:
            raise RuntimeError(f"login failed with {CANARY}")
        except RuntimeError:
            log.exception("request failed")
    finally:
        SECRETS.clear()
    out = stream.getvalue()
    assert CANARY not in out
    assert "request failed" in out and "RuntimeError" in out


def test_json_lines_are_valid_json_with_level_and_logger():
    stream = _capture(json_lines=True)
    logging.getLogger("eoharvest.sync").warning("next run in %d s", 30)
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["level"] == "warning"
    assert record["logger"] == "eoharvest.sync"
    assert record["message"] == "next run in 30 s"


def test_newlines_in_messages_cannot_forge_a_second_log_line():
    stream = _capture()
    logging.getLogger("eoharvest.x").warning("file %s", "a\nERROR eoharvest: fake")
    assert len(stream.getvalue().strip().splitlines()) == 1
