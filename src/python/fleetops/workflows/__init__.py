"""Task code of the deployment, recovery and maintenance Step Functions workflows.

One Lambda (`handler.handler`, artifact `dist/lambdas/workflow-tasks.zip`) serves every Lambda
task of the three state machines in `statemachines/`; it dispatches on the event's `task`.
Single AWS calls are native service integrations in the definitions; the Lambda holds the logic.
"""
