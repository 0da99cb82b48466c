"""Live runs: activitykit as the server side of real components.

Where the simulator models Landscape Client and the job-handler queue, this package talks to
the real programs: an emulated Landscape server that real clients exchange with over HTTP,
and server activities that go through a real RabbitMQ broker (``activitykit.live.amqp``).
Both record the same trace as a simulated run and check it as it happens.
"""
