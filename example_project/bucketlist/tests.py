"""The bucket list's pushes, tested with livepush.testing as a host project would.

Run with ``python manage.py test`` in example_project/ (tests/test_example.py does).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.test import TestCase, TransactionTestCase

from livepush.testing import LivePushCommunicator, capture_pushes

from .models import BucketList, BucketPoint


class PointPushTests(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        users = get_user_model().objects
        cls.alice = users.create_user("alice", password="pw")
        cls.bob = users.create_user("bob", password="pw")
        cls.outsider = users.create_user("eve", password="pw")
        cls.bucket_list = BucketList.objects.create(title="Before we turn 40")
        cls.bucket_list.members.add(cls.alice, cls.bob)

    def setUp(self) -> None:
        self.client.force_login(self.alice)

    def test_ticking_a_point_pushes_it_to_every_member_with_its_version(self) -> None:
        point = BucketPoint.objects.create(bucket_list=self.bucket_list, title="Swim")
        with capture_pushes() as pushes:
            response = self.client.post(
                f"/points/{point.pk}/",
                {"title": "Swim", "done": "on"},
                headers={"accept": "application/json"},
            )
        assert response.status_code == 204
        push = pushes.assert_pushed(
            "BUCKETPOINT_UPDATED", to=[self.alice, self.bob], data={"id": point.pk, "done": True}
        )
        assert isinstance(push.data["version"], int)
        pushes.assert_not_pushed(to=self.outsider)

    def test_adding_and_deleting_push_created_and_deleted(self) -> None:
        with capture_pushes() as pushes:
            self.client.post(f"/lists/{self.bucket_list.pk}/add/", {"title": "Run"})
            point = BucketPoint.objects.get(title="Run")
            self.client.post(f"/points/{point.pk}/", {"delete": "1"})
        assert [p.type for p in pushes] == ["BUCKETPOINT_CREATED", "BUCKETPOINT_DELETED"]
        pushes.assert_pushed("BUCKETPOINT_DELETED", to=self.bob, data={"id": point.pk})

    def test_an_empty_title_is_not_saved_and_pushes_nothing(self) -> None:
        with capture_pushes() as pushes:
            self.client.post(f"/lists/{self.bucket_list.pk}/add/", {"title": "  "})
        pushes.assert_not_pushed()

    def test_the_list_a_page_loads_is_what_the_pushes_carry(self) -> None:
        with capture_pushes() as pushes:
            point = BucketPoint.objects.create(bucket_list=self.bucket_list, title="Swim")
        [listed] = self.client.get(f"/lists/{self.bucket_list.pk}/points.json").json()["points"]
        pushed = pushes.assert_pushed("BUCKETPOINT_CREATED").data
        # Field for field, but for when each was sent (the wire panel's sent_at).
        assert pushed.pop("sent_at") <= listed.pop("sent_at")
        assert listed == pushed
        assert listed["id"] == point.pk


class LiveConnectionTests(TransactionTestCase):
    """A real connection: TransactionTestCase, since the consumer reads the user from another
    thread, which cannot see a TestCase's uncommitted rows."""

    async def test_a_member_connected_hears_a_change_made_by_another(self) -> None:
        users = get_user_model().objects
        alice = await users.acreate_user("alice", password="pw")
        bucket_list = await BucketList.objects.acreate(title="Trips")
        await bucket_list.members.aadd(alice)
        async with LivePushCommunicator(alice) as communicator:
            await BucketPoint.objects.acreate(bucket_list=bucket_list, title="Lisbon")
            frame = await communicator.receive_message("BUCKETPOINT_CREATED")
        assert frame["data"]["title"] == "Lisbon"
