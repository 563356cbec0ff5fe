"""moto_server for the local stack, with one fix to moto's speed and none to its behaviour.

moto's EventBridge turns every event it routes to a target into the target's input by
compiling JSONPath expressions (the target's InputPathsMap, or eight default ones) with
jsonpath-ng, which builds a new parser on each compile: about 13 ms per routed event, so a
rule with an SQS target delivered at most ~70 events/s. Compiled expressions are immutable,
so they are memoised here; everything else is moto_server exactly (same arguments).
"""
import functools
import sys

import jsonpath_ng.ext

jsonpath_ng.ext.parse = functools.lru_cache(maxsize=1024)(jsonpath_ng.ext.parse)

from moto.server import main  # noqa: E402  (after the patch, which moto reads at call time)

sys.exit(main(sys.argv[1:]))
