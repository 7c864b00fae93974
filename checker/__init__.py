"""Pure history analysis: no trio, no zmq, no processes.

A checker reads a history (a list of operations, see `checker.history`) and answers a
`checker.result.Result`. Everything here can run on its own, on histories recorded by this
project, by Jepsen, or by Porcupine.
"""
