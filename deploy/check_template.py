"""Checks deploy/cloudformation.yaml against the gateway's code, beyond what cfn-lint knows:

- least privilege both ways: every AWS SDK operation the gateway calls (`client.<op>()`
  in gateway/src) is allowed by the template's policies, and every action of
  GatewayPolicy is one the gateway calls;
- the outputs feed every AWS variable of the gateway's configuration.

Run by scripts/check-deploy.sh with the venv that has cfn-lint (for its YAML loader).
"""

import pathlib
import re
import sys

from cfnlint.decode import cfn_yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent

# SDK operation -> the IAM action that authorises it (batch calls use the single action).
ACTIONS = {
    "receive_message": "sqs:ReceiveMessage",
    "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "send_message": "sqs:SendMessage",
    "send_message_batch": "sqs:SendMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "change_message_visibility_batch": "sqs:ChangeMessageVisibility",
    "start_message_move_task": "sqs:StartMessageMoveTask",
    "list_message_move_tasks": "sqs:ListMessageMoveTasks",
    "get_queue_url": "sqs:GetQueueUrl",
    "publish": "sns:Publish",
    "publish_batch": "sns:Publish",
    "get_topic_attributes": "sns:GetTopicAttributes",
}

# The gateway's configuration variables that name an AWS resource.
AWS_VARIABLES = {
    "SQS_METADATA_QUEUE_URL",
    "SQS_METADATA_DLQ_URL",
    "SNS_TOPIC_FEEDBACK_GOOD",
    "SNS_TOPIC_FEEDBACK_BAD",
    "SNS_TOPIC_FEEDBACK_NEUTRAL",
}


def policy_actions(template, name):
    actions = set()
    for statement in template["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]:
        action = statement["Action"]
        actions.update([action] if isinstance(action, str) else action)
    return actions


def main():
    template = cfn_yaml.load(str(ROOT / "deploy/cloudformation.yaml"))
    errors = []

    called = {}
    for path in sorted((ROOT / "gateway/src").rglob("*.rs")):
        source = path.read_text()
        if "aws_sdk_" not in source:
            continue  # other clients (Redis, MongoDB) need no IAM action
        for op in re.findall(r"\bclient\s*\.\s*([a-z_]+)\(\)", source):
            called.setdefault(op, set()).add(str(path.relative_to(ROOT)))
    if not called:
        errors.append("found no AWS SDK call in gateway/src: the pattern is out of date")

    runtime = policy_actions(template, "GatewayPolicy")
    operator = policy_actions(template, "GatewayDeadLetterOperatorPolicy")
    needed = set()
    for op, files in sorted(called.items()):
        action = ACTIONS.get(op)
        if action is None:
            errors.append(f"SDK call {op}() in {sorted(files)}: add its IAM action to ACTIONS here and to a policy")
            continue
        needed.add(action)
        if action not in runtime | operator:
            errors.append(f"SDK call {op}() in {sorted(files)} needs {action}, which no policy allows")
    for action in sorted(runtime - needed):
        errors.append(f"GatewayPolicy allows {action}, which the gateway never calls")

    outputs = {o.get("Description") for o in template["Outputs"].values()}
    for variable in sorted(AWS_VARIABLES - outputs):
        errors.append(f"no output describes {variable}")
    config = (ROOT / "gateway/src/config.rs").read_text()
    for variable in sorted(AWS_VARIABLES):
        if f'env = "{variable}"' not in config:
            errors.append(f"{variable} is no longer a gateway variable (gateway/src/config.rs)")

    for error in errors:
        print(f"check_template: {error}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_template: {len(called)} SDK operations, all allowed; GatewayPolicy = {sorted(runtime)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
