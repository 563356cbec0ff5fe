"""moto_server for the local stack, with fixes to moto's speed and none to its behaviour.

Each patch replaces a pure computation by an equal, cheaper one; each is applied only when
moto still has the shape it was written against (moto is pinned by requirements-dev.lock),
so a moto upgrade can make the stack slower but never different.

1. moto's EventBridge turns every event it routes to a target into the target's input by
   compiling JSONPath expressions (the target's InputPathsMap, or eight default ones) with
   jsonpath-ng, which builds a new parser on each compile: about 13 ms per routed event, so a
   rule with an SQS target delivered at most ~70 events/s. Compiled expressions are immutable;
   they are memoised.
2. moto's SQS checks each received message's retention by computing every attribute of the
   queue (three times), each walking every message in it: receiving got slower with every
   message waiting. The check now reads the retention period alone.
3. camelcase_to_underscores (attribute names, on every SQS call) is memoised; it is a pure
   function of its argument.
"""
import functools
import sys

import jsonpath_ng.ext
import moto.core.utils

jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)
# Before moto.sqs is imported, so its `from moto.core.utils import ...` binds the memoised one.
moto.core.utils.camelcase_to_underscores = functools.lru_cache(maxsize=4096)(moto.core.utils.camelcase_to_underscores)

import moto.sqs.models  # noqa: E402

if hasattr(moto.sqs.models.SQSBackend, "is_message_valid_based_on_retention_period"):

    def _retained(self, queue_name, message):
        queue = self.get_queue(queue_name)
        retain_until = float(queue.message_retention_period) + message.sent_timestamp / 1000
        return retain_until > moto.core.utils.unix_time()

    moto.sqs.models.SQSBackend.is_message_valid_based_on_retention_period = _retained

from moto.server import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
