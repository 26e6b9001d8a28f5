"""Traffic drivers. nginx is exercised here with stand-in test/reload commands (a real nginx is
in the end-to-end test); the ALB driver runs against moto's in-process AWS, since AWS itself
cannot be reached from this machine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ops.models import Rollout
from ops.rollouts.drivers import (
    AwsAlbDriver,
    DriverError,
    NginxDriver,
    RecordDriver,
    nginx_upstream,
)
from ops.rollouts.lanes import roles
from ops.rollouts.services import RolloutError, rollout_create, rollout_start

A_STABLE = roles(swapped=False)

pytestmark = pytest.mark.django_db


@pytest.fixture
def nginx(settings: Any, tmp_path: Path) -> Path:
    settings.NGINX_UPSTREAM_FILE = str(tmp_path / "conf.d" / "upstream.conf")
    settings.NGINX_TEST_COMMAND = "true"
    settings.NGINX_RELOAD_COMMAND = "echo reloaded"
    settings.ROLLOUT_STABLE_UPSTREAM = "10.0.0.1:3000"
    settings.ROLLOUT_CANARY_UPSTREAM = "10.0.0.2:3000"
    return Path(settings.NGINX_UPSTREAM_FILE)


@pytest.mark.parametrize(
    ("weight", "lines"),
    [
        (0, ["server 10.0.0.1:3000 weight=100;"]),
        (5, ["server 10.0.0.1:3000 weight=95;", "server 10.0.0.2:3000 weight=5;"]),
        (100, ["server 10.0.0.2:3000 weight=100;"]),
    ],
)
def test_the_upstream_file_has_the_weights(weight: int, lines: list[str]) -> None:
    text = nginx_upstream(
        stable="10.0.0.1:3000", canary="10.0.0.2:3000", weight=weight, rollout_id=7
    )
    servers = [line.strip() for line in text.splitlines() if line.strip().startswith("server")]
    assert servers == lines
    assert "upstream portal_api {" in text


def test_the_nginx_driver_writes_then_checks_and_reloads(nginx: Path) -> None:
    rollout = rollout_create(version="1.0.0", actor="t", driver="nginx")
    rollout = rollout_start(rollout_id=rollout.pk, actor="t")
    assert "weight=5;" in nginx.read_text()
    event = rollout.events.get(action="start")
    assert "reloaded" in event.output
    assert oct(nginx.stat().st_mode & 0o777) == "0o644"


def test_a_refused_config_is_restored_and_the_transition_does_not_happen(
    nginx: Path, settings: Any
) -> None:
    rollout = rollout_create(version="1.0.0", actor="t", driver="nginx")
    rollout_start(rollout_id=rollout.pk, actor="t")
    before = nginx.read_text()
    settings.NGINX_TEST_COMMAND = "false"
    from ops.rollouts.services import rollout_advance

    with pytest.raises(RolloutError, match="nginx driver could not set 25%"):
        rollout_advance(rollout_id=rollout.pk, actor="t")
    assert nginx.read_text() == before
    assert Rollout.objects.get(pk=rollout.pk).weight == 5


def test_a_missing_reload_command_is_a_driver_error(nginx: Path, settings: Any) -> None:
    settings.NGINX_RELOAD_COMMAND = "/nonexistent/nginx -s reload"
    with pytest.raises(DriverError):
        NginxDriver().set_weight(Rollout(pk=1), 5, A_STABLE)
    assert not nginx.exists()


def test_the_record_driver_only_records() -> None:
    assert "record driver" in RecordDriver().set_weight(Rollout(pk=1), 50, A_STABLE)


@mock_aws
def test_the_alb_driver_sends_the_seeds_weighted_forward_config(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    elb = boto3.client("elbv2", region_name="us-east-1")
    lb = elb.create_load_balancer(Name="portal-api", Subnets=subnets)["LoadBalancers"][0]
    groups = [
        elb.create_target_group(
            Name=name, Protocol="HTTP", Port=3000, VpcId=vpc, HealthCheckPath="/v1/health"
        )["TargetGroups"][0]["TargetGroupArn"]
        for name in ("portal-api-prod", "portal-api-canary")
    ]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups[0]}],
    )["Listeners"][0]["ListenerArn"]
    settings.ALB_LISTENER_ARN = listener
    settings.ALB_STABLE_TARGET_GROUP_ARN, settings.ALB_CANARY_TARGET_GROUP_ARN = groups

    output = AwsAlbDriver(client=elb).set_weight(Rollout(pk=1), 5, roles(swapped=False))
    action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}
    assert weights == {groups[0]: 95, groups[1]: 5}
    assert "portal-api-canary 5" in output

    # Promotion swaps the lanes: the canary's target group becomes the stable one, so weight 0
    # sends everything to the new version, and the next canary is the old group.
    AwsAlbDriver(client=elb).set_weight(Rollout(pk=1), 0, roles(swapped=True))
    action = elb.describe_listeners(ListenerArns=[listener])["Listeners"][0]["DefaultActions"][0]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in action["ForwardConfig"]["TargetGroups"]}
    assert weights == {groups[1]: 100, groups[0]: 0}


def test_the_alb_driver_needs_its_arns(settings: Any) -> None:
    settings.ALB_LISTENER_ARN = ""
    with pytest.raises(DriverError, match="ALB_LISTENER_ARN"):
        AwsAlbDriver(client=object()).set_weight(Rollout(pk=1), 5, A_STABLE)
