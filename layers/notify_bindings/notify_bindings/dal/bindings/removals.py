"""Removals of bindings: a delete, a dead address, the erasure of an identity, the clean-up
of a binding DynamoDB's TTL deleted - and why each binding went, as its removal item says.

Each removal is one transaction that takes every item of the binding together and records why
beside them (`domain/bindings.Removal`); an erasure that takes more than a transaction holds
marks the identity on the Service item meanwhile (see `store.py`'s docstring).
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.exceptions import ClientError

from notify_bindings.dal.bindings.items import (
    MAX_TRANSACTION_ITEMS,
    Tables,
    address_key,
    bindings_in_record,
    by_sid,
    has_many_tags,
    identity_key,
    index_keys,
    removal_key,
)
from notify_bindings.dal.bindings.plans import Plan
from notify_bindings.dal.bindings.reads import Reader
from notify_bindings.dal.dynamo import (
    BATCH_GET_LIMIT,
    Cancelled,
    DynamoDBClient,
    Retries,
    batch_get,
    write_item,
)
from notify_bindings.domain.bindings import Binding, Removal, RemovalCause
from notify_bindings.platform.errors import Unavailable


class _Erasure:
    """What an erasure has learnt so far, between its transactions."""

    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.erased = False  # whether a binding the identity had was live
        self.began = False  # whether the identity was seen marked, or marked by this call
        self.left: list[Binding] | None = None  # after a transaction of ours: what it left
        self.causes: dict[str, Removal | None] = {}  # by SID; None: its address item is gone


class Removals:
    def __init__(
        self,
        client: DynamoDBClient,
        tables: Tables,
        reader: Reader,
        *,
        retries: Callable[[], Retries],
        clock: Callable[[], float],
    ) -> None:
        self._client = client
        self._tables = tables
        self._reader = reader
        self._retries = retries
        self._clock = clock

    def delete(self, account_sid: str, service_sid: str, sid: str) -> Binding | None:
        """Delete the binding; None when there is no such binding (any more)."""
        return self._remove(
            account_sid,
            service_sid,
            lambda: self._reader.get(account_sid, service_sid, sid),
            Removal.DELETED,
        )

    def remove_dead_address(
        self,
        account_sid: str,
        service_sid: str,
        address: str,
        *,
        binding_sid: str | None = None,
        detail: str | None = None,
    ) -> Binding | None:
        """Delete the binding at `address`, reported dead by a push service (`detail` says
        how), and only while it holds that address: when `binding_sid` is given, only if it
        is still that binding (not one registered there since). The binding removed, or None.
        Raises MissingService when the Service is not the account's."""

        # The binding found first is the one reported: a look again (after a transaction was
        # cancelled) must not take one registered at the address meanwhile, after the report.
        reported = binding_sid

        def holder() -> Binding | None:
            nonlocal reported
            found, held = self._reader.at_address(account_sid, service_sid, address)
            current = next(
                (b for b in held if found.visible(b) and reported in (None, b.sid)), None
            )
            if current is not None:
                reported = current.sid
            return current

        return self._remove(account_sid, service_sid, holder, Removal.DEAD_ADDRESS, detail)

    def _remove(
        self,
        account_sid: str,
        service_sid: str,
        look: Callable[[], Binding | None],
        removal: Removal,
        detail: str | None = None,
    ) -> Binding | None:
        """Remove the binding `look` finds, for `removal`; None when it finds none (any more)."""
        retries = self._retries()
        removing: Binding | None = None  # set once a transaction's outcome is unknown
        while retries.remain():
            current = look()
            if current is None:
                return removing  # the removal may have been ours: either way it is gone
            plan = Plan(self._tables, self._clock())
            service_guard = plan.guard_service(account_sid, service_sid)
            address_guard = plan.remove_binding(current, removal, detail)
            plan.count_many_tags(service_sid, -has_many_tags(current))
            shrink_at = plan.shrink_identity(current)
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                if any(cancelled.failed(at) for at in (service_guard, address_guard, shrink_at)):
                    retries.lost_race()  # removed or replaced meanwhile: the next look tells
                    continue
                retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                removing = current  # it may have happened: the next look tells
                retries.failed()
                continue
            return current
        raise retries.exhausted()

    def forget_expired(self, binding: Binding) -> bool:
        """Remove what indexes and counts an expired binding: its index items, its place in the
        many-tags count, its copy and place in its identity record - all in one transaction
        conditioned on the copy, which they always leave with. False when they went already
        (the stream record delivered again, or a create or an erasure took them first).

        Its address item is not touched: DynamoDB's TTL deletes it (that delete is what calls
        this), or a create at its address replaces it."""
        retries = self._retries()
        while retries.remain():
            plan = Plan(self._tables, self._clock())
            copy_at = plan.shrink_identity(binding)
            plan.remove_from_index(binding)
            plan.count_many_tags(binding.service_sid, -has_many_tags(binding))
            try:
                plan.run(self._client)
            except Cancelled as cancelled:
                if cancelled.failed(copy_at):
                    return False  # forgotten already: nothing of it is left to take
                retries.failed(throttled=cancelled.throttled)
                continue
            except Unavailable:
                retries.failed()  # it may have happened: the condition tells next time
                continue
            return True
        raise retries.exhausted()

    def removal_of(self, service_sid: str, sids: list[str]) -> dict[str, RemovalCause]:
        """Why each of these bindings was removed, for those whose removal recorded it."""
        index = self._tables.index
        keys = [removal_key(service_sid, sid) for sid in sids]
        found: dict[str, RemovalCause] = {}
        for start in range(0, len(keys), BATCH_GET_LIMIT):
            batch = {index: keys[start : start + BATCH_GET_LIMIT]}
            for item in batch_get(self._client, batch, self._retries()).get(index, []):
                detail = item.get("Detail", {}).get("S")
                found[item["sk"]["S"]] = (Removal(item["Removal"]["S"]), detail)
        return found

    # -- erasure --------------------------------------------------------------------------

    def erase(self, account_sid: str, service_sid: str, identity: str) -> bool:
        """Delete every binding of the identity, and its identity record; False when it has
        none (and no erasure of it is under way) - nothing to erase. Its expired bindings go
        too (their address items as well, where TTL has not deleted them), but count as none.

        Bindings go a transaction at a time, as many whole bindings as one holds: at once for
        most identities. When they take more than one, the Service item marks the identity as
        being erased from the first transaction to the last (see `store.py`'s docstring), so
        no reader sees part of them gone. A transaction cancelled or of unknown outcome is
        found out by the next read, which starts again from what is left: an interrupted
        erasure is finished by the next call, or by the next create for the identity.
        """
        retries = self._retries()
        erasure = _Erasure(identity)
        while retries.remain():
            if erasure.left is None:
                look = self._look(account_sid, service_sid, erasure)
                if isinstance(look, bool):
                    return look
                bindings, marked = look
            else:
                bindings, marked, erasure.left = erasure.left, True, None
            plan, taken = self._erasure_step(
                account_sid, service_sid, identity, bindings, marked, erasure.causes
            )
            if not plan.commit(self._client, retries):
                continue
            if taken == len(bindings):
                return erasure.erased
            erasure.left, erasure.began = bindings[taken:], True  # and the identity is marked
        raise retries.exhausted()

    def _look(
        self, account_sid: str, service_sid: str, erasure: _Erasure
    ) -> tuple[list[Binding], bool] | bool:
        """The identity's bindings left to erase and whether its erasure is marked; or, when
        nothing is left to do, the erasure's answer."""
        index = self._tables.index
        keys = {index: [identity_key(service_sid, erasure.identity)]}
        found = self._reader.service_found(account_sid, service_sid, keys)
        records = found.items[index]
        bindings = sorted(bindings_in_record(records[0]), key=by_sid) if records else []
        marked = erasure.identity in found.erasing
        if erasure.began and not marked:
            # The erasure is over: ended by this call (its answer lost) or by a create that
            # finished it. Bindings the identity has now came after it.
            return True
        erasure.began = erasure.began or marked
        if not bindings and not marked:
            if records:
                # Emptied by deletes, it holds nothing but the identity: erase that too.
                self._delete_emptied_record(service_sid, erasure.identity)
            return erasure.erased
        erasure.causes = self._erasure_causes(bindings, found.now)
        erasure.erased = erasure.erased or marked or Removal.ERASED in erasure.causes.values()
        return bindings, marked

    def _erasure_step(
        self,
        account_sid: str,
        service_sid: str,
        identity: str,
        bindings: list[Binding],
        marked: bool,
        causes: dict[str, Removal | None],
    ) -> tuple[Plan, int]:
        """The next transaction of an erasure: as many of `bindings` as it holds, whole, and
        how many that is. The last also removes the identity record and the Service's mark."""
        room = MAX_TRANSACTION_ITEMS - 3  # the Service, the identity record, the count of tags
        chunk: list[Binding] = []
        for binding in bindings:
            # Its index items, and its address and removal items unless TTL took the first.
            size = len(index_keys(binding)) + (2 if causes[binding.sid] else 0)
            if size > room:
                break
            chunk.append(binding)
            room -= size
        last = len(chunk) == len(bindings)
        plan = Plan(self._tables, self._clock())
        if marked and last:
            plan.mark_erasing(account_sid, service_sid, identity, on=False)
        elif not marked and not last:
            plan.mark_erasing(account_sid, service_sid, identity, on=True)
        else:  # all in this one transaction, or one in the middle of a marked erasure
            plan.guard_service(account_sid, service_sid)
        for binding in chunk:
            cause = causes[binding.sid]
            if cause is None:
                plan.remove_from_index(binding)
            else:
                plan.remove_binding(binding, cause)
        plan.count_many_tags(service_sid, -sum(map(has_many_tags, chunk)))
        if last:
            plan.delete_identity(service_sid, identity, chunk)
        else:
            plan.shrink_identity_by(service_sid, identity, chunk)
        return plan, len(chunk)

    def _erasure_causes(self, bindings: list[Binding], now: float) -> dict[str, Removal | None]:
        """Why an erasure removes each binding, by SID: ERASED for a live one; EXPIRED for an
        expired one whose address item still holds it, None when TTL (or a create) took that.
        Finding out reads the expired ones' address items: one round trip, when there are any."""
        causes: dict[str, Removal | None] = {
            binding.sid: Removal.ERASED for binding in bindings if not binding.expired_at(now)
        }
        lapsed = [binding for binding in bindings if binding.sid not in causes]
        if lapsed:
            table = self._tables.bindings
            keys = [address_key(binding.service_sid, binding.address) for binding in lapsed]
            held = {
                item["Sid"]["S"]
                for item in batch_get(self._client, {table: keys}, self._retries())[table]
            }
            causes.update(
                (binding.sid, Removal.EXPIRED if binding.sid in held else None)
                for binding in lapsed
            )
        return causes

    def _delete_emptied_record(self, service_sid: str, identity: str) -> None:
        try:
            write_item(
                lambda: self._client.delete_item(
                    TableName=self._tables.index,
                    Key=identity_key(service_sid, identity),
                    ConditionExpression="BindingCount = :none",
                    ExpressionAttributeValues={":none": {"N": "0"}},
                ),
                self._retries(),
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            # A binding came meanwhile: the record is a live identity's again.
