"""`flask --app app keys status | rotate-master | rekey | reindex | split | combine`, and the keys
`init` creates.

split / combine (custody of the master key; the scheme is in protection/custody.py)
    split prints the master key as N SLIP-39 paper shares, any M of which rebuild it, each
    with its number and the key's fingerprint; it is recorded (N, M, fingerprint) and
    committed before a word is printed. combine rebuilds the key from M shares (typed, or
    one per line in a file), checks it against the fingerprint (given, or the database's
    pin when it can be reached) and writes keys/master.key as init would; it is recorded
    when the database can be reached (a recovery on a new server may come first).

rotate-master (the master key changes; content and data keys do not)
    1. writes the new key to instance/keys/master.key.new (0600);
    2. pins its id in the database: from then on every new data key is wrapped under it
       (running servers find it in master.key.new when they first meet its id);
    3. re-wraps the data keys in batches, each batch one transaction;
    4. keeps the old file as master.key.old-<UTC timestamp> and moves the new one into
       master.key.
    Interrupted, it is run again and continues (master.key.new is reused). The old key
    stays on disk because backups taken before the rotation hold data keys wrapped under
    it: restoring one needs it. `keys status` shows it wraps nothing in the live database;
    delete it once no such backup is kept (and at once if the old key may have leaked,
    together with those backups). With HOSO_MASTER_KEY the new key is left in
    master.key.new for the operator to move into the service's environment.

rekey (content is re-encrypted under fresh data keys; the master key does not change)
    Bumps keyring.dek_generation, then, batch by batch in one transaction each: creates a
    fresh key for each older-generation key, re-seals every value sealed under the old one
    (same table, column and row binding), points the rows at the new key and deletes the
    old one. Progress is in the database itself: keys of an older generation are the work
    left, so an interrupted run is resumed by running it again.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from . import (
    blobs,  # noqa: F401 - every Protected model must be mapped before rekey/status walk them
    custody,
    index_plans,
    reindex,
    signals,
)
from .clock import utcnow
from .crypto import KeyRing, current_keyring, install_keyring, key_sources
from .db import db
from .fields import ProtectedSpec, Sealed, protected_specs
from .keystore import (
    INDEX_KEY_FILE,
    MASTER_KEY_FILE,
    PENDING_MASTER_KEY_FILE,
    PIN_GENERATION,
    PIN_INDEX,
    PIN_MASTER,
    RETIRED_MASTER_KEY_PREFIX,
    CryptoError,
    DataKey,
    KeyConfigurationError,
    KeyringEntry,
    KeySources,
    MasterKey,
    fsync_directory,
    key_id,
    new_key,
    read_key_file,
    write_key_file,
)
from .schema import SchemaNotReady, ensure_schema_current

keys_cli = AppGroup("keys", help="Show, rotate and re-key the encryption keys.")


def _ready() -> KeyRing:
    try:
        ensure_schema_current()
        return current_keyring()
    except (SchemaNotReady, KeyConfigurationError) as error:
        raise click.ClickException(str(error)) from None


def _announce(operation: str, **detail) -> None:
    """An audit entry for this step, in the transaction that commits it (audit listens)."""
    signals.keys_changed.send(current_app._get_current_object(), operation=operation, **detail)


def _read_pins(session) -> dict[str, str]:
    return dict(session.execute(select(KeyringEntry.name, KeyringEntry.value)).all())


# --- init ---------------------------------------------------------------------------------

def provision_keys(app: Flask) -> list[str]:
    """Create the missing key files (0600, never replacing one) and pin the keys in the
    database. Refuses to create a key the database already has data under: a new key
    could never read it, so the old file must be restored instead."""
    sources = key_sources(app)
    sources.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines = []
    try:
        pins = _read_pins(db.session)
        db.session.rollback()
        for label, find, filename, pin in (("master key", sources.master, MASTER_KEY_FILE, PIN_MASTER),
                                           ("blind-index key", sources.index, INDEX_KEY_FILE, PIN_INDEX)):
            found = find()
            if found is not None:
                lines.append(f"Using the {label} from {found[1]}.")
                continue
            path = sources.keys_dir / filename
            if pins.get(pin):
                raise click.ClickException(
                    f"{path} is missing, but this database is protected by the {label} with id "
                    f"{pins[pin]}: restore that file (a new key could not read anything)"
                )
            write_key_file(path, new_key())
            lines.append(f"Wrote {path} (mode 0600).")
        keyring = KeyRing(sources)
        keyring.pins(db.session)
        db.session.commit()
    except KeyConfigurationError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    install_keyring(app, keyring)
    return lines


# --- status -------------------------------------------------------------------------------

@dataclass
class KeyStatus:
    master_files: list[tuple[str, str]]  # (where, key id)
    index_source: tuple[str, str] | None
    pins: dict[str, str]
    keys_by_master: dict[str, int]
    keys_by_generation: dict[int, int]
    values_by_generation: dict[int, int]
    values_by_key: dict = field(default_factory=dict)
    shredded_rows: int = 0

    @property
    def generation(self) -> int:
        return int(self.pins.get(PIN_GENERATION, "1"))


def _value_count(spec: ProtectedSpec, table):
    counts = [func.count(table.c[item.column]) for item in spec.encrypted]
    total = counts[0]
    for count in counts[1:]:
        total = total + count
    return total


def _master_key_files(sources: KeySources) -> list[tuple[str, str]]:
    found = []
    if not sources.master_from_file():
        master = sources.master()
        if master is not None:
            found.append((master[1], key_id(master[0])))
    names = [MASTER_KEY_FILE, PENDING_MASTER_KEY_FILE,
             *sorted(path.name for path in sources.keys_dir.glob(RETIRED_MASTER_KEY_PREFIX + "*"))]
    for name in names:
        path = sources.keys_dir / name
        if path.exists():
            try:
                found.append((name, key_id(read_key_file(path, KeyConfigurationError))))
            except KeyConfigurationError:
                found.append((name, "unreadable"))
    return found


def key_status(session, sources: KeySources, *, each: bool = False) -> KeyStatus:
    """How many data keys each master key wraps, and how many values each generation of
    data keys (or each key) still protects. Reads counts only: needs no key at all, so it
    also diagnoses a server that refuses to start."""
    keys = DataKey.__table__
    by_master = dict(session.execute(
        select(keys.c.master_key_id, func.count()).group_by(keys.c.master_key_id)).all())
    by_generation = dict(session.execute(
        select(keys.c.generation, func.count()).group_by(keys.c.generation)).all())
    values_by_generation: dict[int, int] = defaultdict(int)
    values_by_key: dict = defaultdict(int)
    shredded = 0
    for spec in protected_specs():
        table = spec.class_.__table__
        if spec.encrypted:
            total = _value_count(spec, table)
            rows = session.execute(
                select(keys.c.generation, total).join(keys, keys.c.id == table.c.data_key_id)
                .group_by(keys.c.generation)).all()
            for generation, count in rows:
                values_by_generation[generation] += count or 0
            if each:
                for data_key_id, count in session.execute(
                        select(table.c.data_key_id, total).where(table.c.data_key_id.is_not(None))
                        .group_by(table.c.data_key_id)).all():
                    values_by_key[data_key_id] += count or 0
        shredded += session.scalar(select(func.count()).select_from(table).where(table.c.data_key_id.is_(None)))
    index = sources.index()
    status = KeyStatus(
        master_files=_master_key_files(sources),
        index_source=(index[1], key_id(index[0])) if index else None,
        pins=_read_pins(session), keys_by_master=by_master, keys_by_generation=by_generation,
        values_by_generation=dict(values_by_generation), shredded_rows=shredded,
    )
    if each:
        status.values_by_key = dict(values_by_key)
        status.values_by_key.update({
            row.id: status.values_by_key.get(row.id, 0)
            for row in session.execute(select(keys.c.id)).all()
        })
    session.rollback()
    return status


@keys_cli.command("status")
@click.option("--each", is_flag=True, help="Also list every data key with the values it protects.")
def status_command(each: bool) -> None:
    """Which keys exist, and how many values each one still protects."""
    try:
        ensure_schema_current()
    except SchemaNotReady as error:
        raise click.ClickException(str(error)) from None
    status = key_status(db.session, key_sources(current_app), each=each)
    pinned_master = status.pins.get(PIN_MASTER)
    click.echo("Master keys")
    seen = set()
    for where, master_id in status.master_files:
        seen.add(master_id)
        note = "in use" if master_id == pinned_master else ""
        if where.startswith(RETIRED_MASTER_KEY_PREFIX):
            note = "retired: delete once no backup from before the rotation is kept"
        wraps = status.keys_by_master.get(master_id, 0)
        click.echo(f"  {where:<40} id {master_id:<16}  wraps {wraps:>8} data keys  {note}".rstrip())
    for master_id, count in sorted(status.keys_by_master.items()):
        if master_id not in seen:
            click.echo(f"  {'(no key file or variable holds it)':<40} id {master_id:<16}  wraps {count:>8} data keys")
    click.echo("Blind-index key")
    if status.index_source:
        where, index_id = status.index_source
        mark = "in use" if status.pins.get(PIN_INDEX) in (None, index_id) else f"NOT the pinned key {status.pins[PIN_INDEX]}"
        click.echo(f"  {where:<40} id {index_id:<16}  {mark}")
    else:
        click.echo("  missing")
    generation = status.generation
    click.echo(f"Data keys by generation (new keys get generation {generation})")
    for number in range(1, max([generation, *status.keys_by_generation]) + 1):
        keys = status.keys_by_generation.get(number, 0)
        values = status.values_by_generation.get(number, 0)
        click.echo(f"  generation {number}: {keys} data keys protect {values} values")
    if status.shredded_rows:
        click.echo(f"Rows whose data key was destroyed (unreadable for ever): {status.shredded_rows}")
    click.echo("Blind indexes (CipherSweet: 2 to sqrt(R) rows per value)")
    for plan in reindex.plan_status(db.session):
        lengths = "/".join(str(bits) for bits in plan.widths.all)
        planned = f", planned for {plan.planned_rows}" if plan.planned_rows else ""
        click.echo(f"  {plan.name:<32} {lengths:>5} bits  {plan.rows:>9} rows{planned}, "
                   f"{plan.rows_per_value:.1f} per value  {plan.advice}".rstrip())
    for side in reindex.side_indexes():
        if side.needs_rebuild():
            click.echo(f"  {side.name:<32} rows missing for older records: run `keys reindex`")
    db.session.rollback()
    if each:
        click.echo("Each data key: id, values")
        for data_key_id, values in sorted(status.values_by_key.items(), key=lambda item: str(item[0])):
            click.echo(f"  {data_key_id}  {values}")


# --- rotate-master ------------------------------------------------------------------------

@dataclass
class Rotation:
    new_id: str
    retired_ids: list[str]
    rewrapped: int
    resumed: bool
    retired_file: Path | None
    pending_file: Path | None  # left for the operator when the key comes from the environment


def rotate_master(session, keyring: KeyRing, sources: KeySources, *, batch_size: int = 1000,
                  on_start: Callable[[int], None] | None = None,
                  on_batch: Callable[[int], None] | None = None) -> Rotation:
    keys_dir = sources.keys_dir
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pending_path = keys_dir / PENDING_MASTER_KEY_FILE
    resumed = pending_path.exists()
    if not resumed:
        write_key_file(pending_path, new_key())
    new = MasterKey.from_raw(read_key_file(pending_path, KeyConfigurationError), str(pending_path))
    keyring.add_master(new)

    keyring.set_pin(session, PIN_MASTER, new.id)
    _announce("rotate_master.start", master_key=new.id, resumed=resumed)
    session.commit()

    keys = DataKey.__table__
    retired_ids = sorted(session.scalars(
        select(keys.c.master_key_id).where(keys.c.master_key_id != new.id).distinct()).all())
    total = session.scalar(select(func.count()).select_from(keys).where(keys.c.master_key_id.in_(retired_ids)))
    session.rollback()
    if on_start:
        on_start(total)
    rewrap = (update(keys).where(keys.c.id == bindparam("_id"))
              .values(wrapped_key=bindparam("_wrapped"), master_key_id=bindparam("_master")))
    rewrapped = 0
    while retired_ids:
        connection = session.connection()
        rows = connection.execute(
            select(keys.c.id, keys.c.wrapped_key, keys.c.master_key_id)
            .where(keys.c.master_key_id.in_(retired_ids)).limit(batch_size).with_for_update()
        ).all()
        if not rows:
            session.rollback()
            break
        connection.execute(rewrap, [
            {"_id": row.id, "_master": new.id,
             "_wrapped": keyring.wrap(new, row.id, keyring.unwrap(row.id, row.wrapped_key, row.master_key_id))}
            for row in rows
        ])
        _announce("rotate_master.batch", master_key=new.id, data_keys=len(rows))
        session.commit()
        rewrapped += len(rows)
        if on_batch:
            on_batch(len(rows))

    if not sources.master_from_file():
        return Rotation(new.id, retired_ids, rewrapped, resumed, None, pending_path)
    current = keys_dir / MASTER_KEY_FILE
    retired_file = None
    if current.exists() and key_id(read_key_file(current, KeyConfigurationError)) != new.id:
        retired_file = keys_dir / f"{RETIRED_MASTER_KEY_PREFIX}{utcnow():%Y%m%dT%H%M%SZ}"
        try:
            os.link(current, retired_file)  # the same inode: same bytes, same 0600 mode
        except OSError:
            shutil.copy2(current, retired_file)
            os.chmod(retired_file, 0o600)
    os.replace(pending_path, current)
    fsync_directory(keys_dir)
    return Rotation(new.id, retired_ids, rewrapped, resumed, retired_file, None)


@keys_cli.command("rotate-master")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="Data keys re-wrapped per transaction.")
def rotate_master_command(batch_size: int) -> None:
    """New master key; re-wrap every data key under it without touching content."""
    keyring = _ready()
    sources = key_sources(current_app)
    bar = None

    def start(total: int) -> None:
        nonlocal bar
        bar = click.progressbar(length=total, label="Re-wrapping data keys")
        bar.__enter__()

    try:
        rotation = rotate_master(db.session, keyring, sources, batch_size=batch_size,
                                 on_start=start, on_batch=lambda n: bar.update(n))
    except (CryptoError, OSError) as error:
        db.session.rollback()
        raise click.ClickException(f"rotation stopped ({error}); run it again to continue") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if rotation.resumed:
        click.echo("Continued the rotation left unfinished by an earlier run.")
    click.echo(f"Master key is now {rotation.new_id}; re-wrapped {rotation.rewrapped} data keys.")
    if rotation.retired_file is not None:
        click.echo(f"The old key is kept as {rotation.retired_file}: backups from before now need it. "
                   "Delete it once no such backup is kept.")
    if rotation.pending_file is not None:
        click.echo(f"Put the contents of {rotation.pending_file} in HOSO_MASTER_KEY, restart the servers, "
                   "then delete that file. Keep the old value until no backup from before now is kept.")


# --- rekey --------------------------------------------------------------------------------

@dataclass
class Rekey:
    generation: int
    keys_replaced: int = 0
    values_resealed: int = 0
    keys_left: int = 0
    resumed: bool = False


def _reseal_table(session, keyring: KeyRing, spec: ProtectedSpec, replacements: dict) -> int:
    table = spec.class_.__table__
    pk = table.c[spec.class_.__mapper__.get_property(spec.pk).columns[0].name]
    connection = session.connection()
    columns = [table.c[item.column] for item in spec.encrypted]
    statement = (update(table).where(pk == bindparam("_pk"))
                 .values(data_key_id=bindparam("_key"),
                         **{item.column: bindparam(f"_v{n}") for n, item in enumerate(spec.encrypted)}))
    under_old_keys = table.c.data_key_id.in_(list(replacements))
    if spec.has_large_values:
        # One row at a time where a value may be an attachment of many megabytes.
        ids = connection.execute(select(pk).where(under_old_keys).with_for_update()).scalars().all()
        chunks = ([connection.execute(select(pk, table.c.data_key_id, *columns).where(pk == row_id)).one()]
                  for row_id in ids)
    else:
        # The batch's rows in one read, locked as they are read: a batch of keys is a few
        # hundred records' rows, and a second query by primary key would cost as much again.
        chunks = [connection.execute(
            select(pk, table.c.data_key_id, *columns).where(under_old_keys).with_for_update()).all()]
    fields = [(n, f"_v{n}", item) for n, item in enumerate(spec.encrypted)]
    sealer = keyring.batch_sealer(session)
    resealed = 0
    for chunk in chunks:
        params = []
        for row in chunk:
            row_id, new_key = row[0], replacements[row[1]]
            open_ = keyring.opener(session, row_id)
            values = {"_pk": row_id, "_key": new_key}
            names, plaintexts, labels, sealed = [], [], [], []
            for n, name, item in fields:
                if row[n + 2] is None:
                    values[name] = None
                    continue
                # Same table, column and row binding as the flush's: opener and sealer take
                # the field's "table NUL column NUL" label.
                names.append(name)
                plaintexts.append(open_(row[n + 2], item))
                labels.append(item.label)
            if names:
                sealer.seal_row(new_key, row_id, plaintexts, labels, sealed)
                values.update(zip(names, map(Sealed, sealed), strict=True))
                resealed += len(names)
            params.append(values)
        if params:
            connection.execute(statement, params)
    return resealed


def rekey(session, keyring: KeyRing, *, batch_size: int = 200, max_batches: int | None = None,
          on_start: Callable[[int, Rekey], None] | None = None,
          on_batch: Callable[[int], None] | None = None) -> Rekey:
    keys = DataKey.__table__
    generation = int(keyring.pins(session)[PIN_GENERATION])
    older = keys.c.generation < generation
    left = session.scalar(select(func.count()).select_from(keys).where(older))
    result = Rekey(generation, resumed=left > 0)
    if not left:
        if not session.scalar(select(func.count()).select_from(keys)):
            session.rollback()
            return result
        generation += 1
        keyring.set_pin(session, PIN_GENERATION, str(generation))
        _announce("rekey.start", generation=generation)
        session.commit()
        older = keys.c.generation < generation
        left = session.scalar(select(func.count()).select_from(keys).where(older))
        result.generation = generation
    session.commit()
    if on_start:
        on_start(left, result)
    specs = [spec for spec in protected_specs() if spec.encrypted]
    batches = 0
    while max_batches is None or batches < max_batches:
        connection = session.connection()
        old_ids = connection.execute(select(keys.c.id).where(older).limit(batch_size).with_for_update()).scalars().all()
        if not old_ids:
            session.rollback()
            break
        keyring.preload(session, list(old_ids))
        replacements, rows = {}, []
        for old_id in old_ids:
            new = keyring.new_data_key(session)
            replacements[old_id] = new.id
            rows.append(new.row)
        keyring.insert_data_keys(session, rows)
        for spec in specs:
            result.values_resealed += _reseal_table(session, keyring, spec, replacements)
        # Rows without encrypted columns (none today) would still point at the old key.
        for spec in protected_specs():
            if not spec.encrypted:
                table = spec.class_.__table__
                for old_id, new_id in replacements.items():
                    connection.execute(update(table).where(table.c.data_key_id == old_id).values(data_key_id=new_id))
        connection.execute(keys.delete().where(keys.c.id.in_(old_ids)))
        _announce("rekey.batch", generation=generation, data_keys=len(old_ids))
        session.commit()
        for old_id in old_ids:
            keyring.forget(old_id)
        batches += 1
        result.keys_replaced += len(old_ids)
        if on_batch:
            on_batch(len(old_ids))
    result.keys_left = session.scalar(select(func.count()).select_from(keys).where(older))
    session.rollback()
    return result


@keys_cli.command("rekey")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000),
              help="Data keys replaced per transaction (each with all the values it protects).")
@click.option("--max-batches", type=click.IntRange(1), default=None,
              help="Stop after this many batches (to spread the work over quiet hours); run again to continue.")
def rekey_command(batch_size: int, max_batches: int | None) -> None:
    """Re-encrypt content under fresh data keys, in batches; resumable."""
    keyring = _ready()
    bar = None

    def start(left: int, result: Rekey) -> None:
        nonlocal bar
        verb = "Continuing" if result.resumed else "Starting"
        click.echo(f"{verb} re-keying to generation {result.generation}: {left} data keys to replace.")
        bar = click.progressbar(length=left, label="Re-encrypting")
        bar.__enter__()

    try:
        result = rekey(db.session, keyring, batch_size=batch_size, max_batches=max_batches,
                       on_start=start, on_batch=lambda n: bar.update(n))
    except (CryptoError, OSError) as error:
        db.session.rollback()
        raise click.ClickException(f"re-keying stopped ({error}); run it again to continue") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if bar is None:
        click.echo("No data keys yet: nothing to re-key.")
        return
    click.echo(f"Replaced {result.keys_replaced} data keys; re-sealed {result.values_resealed} values.")
    if result.keys_left:
        click.echo(f"{result.keys_left} data keys of older generations are left: run `keys rekey` again to continue.")
    else:
        click.echo(f"Every value is now sealed under generation {result.generation} keys.")


# --- reindex ------------------------------------------------------------------------------

@keys_cli.command("reindex")
@click.option("--rows", type=click.IntRange(1000, 2_000_000_000), default=None,
              help="The rows each index is planned for: the dossiers you expect in the next years.")
@click.option("--index", "only", default=None, help="Only this index (its key name, as `keys status` lists it).")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 50_000),
              help="Rows recomputed per transaction.")
def reindex_command(rows: int | None, only: str | None, batch_size: int) -> None:
    """Give each blind index the length its population needs, and recompute its values; resumable."""
    keyring = _ready()
    names = reindex.index_names()
    sides = {side.name: side for side in reindex.side_indexes()}
    if only is not None and only not in names and only not in sides:
        raise click.ClickException(f"no blind index is named {only!r}; `keys status` lists them")
    jobs = [job for job in reindex.pending(db.session) if only in (None, job.name)]
    # A side index (one row per word of a name) has a fixed length: it is rebuilt when
    # named, or when rows are missing (dossiers written before it existed).
    side_jobs = [side for name, side in sides.items() if only == name or (only is None and side.needs_rebuild())]
    db.session.rollback()
    if only in sides:
        rows = None
    if rows is None and not jobs and not side_jobs:
        raise click.ClickException("say how many rows to plan for, e.g. --rows 1000000 "
                                   "(`keys status` shows how many each index holds now)")
    try:
        started = {job.name for job in jobs}
        for name in names:
            if only not in (None, name) or rows is None:
                continue
            job = reindex.start(db.session, name, rows=rows)
            if job is None:
                current = index_plans.widths(db.session, name, reindex.default_bits(name)).bits
                db.session.rollback()
                click.echo(f"{name}: {current} bits already suit {rows} rows.")
            elif name not in started:
                click.echo(f"{name}: {job.previous} -> {job.bits} bits, planned for {rows} rows.")
                jobs.append(job)
        for job in jobs:
            verb = "Continuing" if job.resumed else "Rebuilding"
            with click.progressbar(length=1, label=f"{verb} {job.name} ({job.bits} bits)") as bar:
                def start(total: int, bar=bar) -> None:
                    bar.length = max(total, 1)

                reindex.rebuild(db.session, keyring, job, batch_size=batch_size, on_start=start,
                                on_batch=bar.update)
            click.echo(f"{job.name}: {job.done} rows recomputed at {job.bits} bits.")
        for side in side_jobs:
            with click.progressbar(length=1, label=f"Rebuilding {side.name}") as bar:
                def start_side(total: int, bar=bar) -> None:
                    bar.length = max(total, 1)

                done = side.rebuild(db.session, keyring, batch_size=batch_size, on_start=start_side,
                                    on_batch=bar.update)
            click.echo(f"{side.name}: rebuilt for {done} rows.")
    except reindex.ReindexError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    except (CryptoError, OSError) as error:
        db.session.rollback()
        raise click.ClickException(f"re-indexing stopped ({error}); run it again to continue") from None


# --- custody: split / combine (SLIP-39 paper shares; see protection/custody.py) ------------

def _pinned_master_id() -> str | None:
    """The master key id the database pins, or None when the database cannot be reached
    (a recovery on a new server may come before the database). A SQLite file that does not
    exist is not created by asking."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        return None
    try:
        with db.engine.connect() as connection:
            value = connection.execute(
                select(KeyringEntry.value).where(KeyringEntry.name == PIN_MASTER)).scalar()
            connection.rollback()
    except SQLAlchemyError:
        return None
    return value


def _database_ready() -> bool:
    try:
        ensure_schema_current()
        return True
    except (SchemaNotReady, SQLAlchemyError):
        db.session.rollback()
        return False


@keys_cli.command("split")
@click.option("--shares", "shares", required=True, type=click.IntRange(1, custody.MAX_SHARES),
              help="How many paper shares to print (N).")
@click.option("--threshold", "threshold", required=True, type=click.IntRange(1, custody.MAX_SHARES),
              help="How many of them rebuild the key (M).")
@click.option("--yes", is_flag=True, help="Do not ask before printing the shares.")
def split_command(shares: int, threshold: int, yes: bool) -> None:
    """Print the master key as N SLIP-39 paper shares, any M of which rebuild it; audited."""
    if threshold > shares:
        raise click.ClickException(f"the threshold ({threshold}) cannot exceed the number of shares ({shares})")
    keyring = _ready()
    sources = key_sources(current_app)
    try:
        if sources.pending_master() is not None:
            raise click.ClickException("a master key rotation is unfinished (master.key.new exists): finish "
                                       "`keys rotate-master`, then split the new key")
        found = sources.master()
        pins = keyring.pins(db.session)
    except KeyConfigurationError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    if found is None:
        raise click.ClickException("no master key to split")
    raw, where = found
    fingerprint = key_id(raw)
    if pins.get(PIN_MASTER) != fingerprint:
        db.session.rollback()
        raise click.ClickException(f"the master key in {where} (id {fingerprint}) is not the one this database "
                                   f"pins (id {pins.get(PIN_MASTER)}): nothing was printed")
    try:
        paper = custody.split_key(raw, shares=shares, threshold=threshold)
    except custody.CustodyError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    click.echo(f"About to print the master key {fingerprint} (from {where}) as {shares} shares, any "
               f"{threshold} of which rebuild it. Anyone holding {threshold} of them holds every record: "
               "print on a trusted terminal, nothing else recording it, and hand each share to its keeper "
               "at once. They are shown this once.", err=True)
    if not yes and not click.confirm("Print the shares now?", default=False, err=True):
        db.session.rollback()
        raise click.ClickException("nothing was printed")
    # Recorded (and committed) before a word is shown: shares never exist unaudited.
    _announce("split", master_key=fingerprint, shares=shares, threshold=threshold)
    db.session.commit()
    for share in paper:
        click.echo("")
        click.echo(f"=== Hoso master key: share {share.number} of {share.of} (Phần {share.number}/{share.of}) ===")
        click.echo(f"Key fingerprint (mã nhận dạng khóa): {share.fingerprint}")
        click.echo(f"Any {share.threshold} of the {share.of} shares rebuild the key: "
                   "flask --app app keys combine")
        for start in range(0, len(share.words), 4):
            click.echo("  " + "".join(f"{number:>2}. {word:<11}" for number, word in
                                      enumerate(share.words[start:start + 4], start=start + 1)).rstrip())
    click.echo("")
    click.echo(f"Printed {shares} shares of master key {fingerprint}. Split again after every "
               "`keys rotate-master`: these shares rebuild only this key.", err=True)


def _read_shares(file: Path | None) -> list[str]:
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as error:
            raise custody.CustodyError(f"cannot read {file}: {getattr(error, 'strerror', None) or 'not text'}") \
                from None
        return [share for share in (custody.normalise_share(line) for line in text.splitlines()
                                    if not line.lstrip().startswith("#")) if share]
    typed: list[str] = []
    needed = None
    while needed is None or len(typed) < needed:
        # Echoed on the operator's terminal only: click.prompt writes nowhere else.
        share = custody.normalise_share(click.prompt(
            f"Share {len(typed) + 1}" + (f" of {needed}" if needed else "") + " (its words, in order)",
            prompt_suffix=": ", err=True))
        if not share:
            raise custody.CustodyError(f"share {len(typed) + 1} is empty")
        described = custody.describe_share(share, len(typed) + 1)
        needed = needed or described.member_threshold
        typed.append(share)
    return typed


@keys_cli.command("combine")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--fingerprint", default=None, help="The key fingerprint printed on the shares.")
@click.option("--force", is_flag=True,
              help="Replace an existing master.key (kept as master.key.old-<time>).")
def combine_command(file: Path | None, fingerprint: str | None, force: bool) -> None:
    """Rebuild the master key from M shares (typed, or one per line in FILE) into keys/master.key."""
    sources = key_sources(current_app)
    target = sources.keys_dir / MASTER_KEY_FILE
    if target.exists() and not force:
        raise click.ClickException(f"{target} already exists: move it away, or pass --force to keep it as "
                                   f"{RETIRED_MASTER_KEY_PREFIX}<time> and write the rebuilt key")
    try:
        raw = custody.rebuild_key(_read_shares(file))
    except custody.CustodyError as error:
        raise click.ClickException(str(error)) from None
    rebuilt = key_id(raw)
    pinned = _pinned_master_id()
    expected = (fingerprint or "").strip().lower() or None
    if expected is None and pinned is None:
        expected = click.prompt("Key fingerprint printed on the shares", err=True).strip().lower()
    if expected is not None and expected != rebuilt:
        raise click.ClickException(f"the shares rebuild key {rebuilt}, not {expected}: nothing was written")
    if pinned is not None and pinned != rebuilt:
        raise click.ClickException(f"the shares rebuild key {rebuilt}, but this database is protected by key "
                                   f"{pinned} (shares made before a rotation?): nothing was written")
    try:
        written = custody.write_master_key(sources.keys_dir, raw, force=force)
    except custody.CustodyError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write {target}: {error.strerror}") from None
    if written.unchanged:
        click.echo(f"{written.path} already holds key {rebuilt}: nothing to write.")
    else:
        click.echo(f"Wrote {written.path} (mode 0600): master key {rebuilt}"
                   + (" (matches the database's pin)." if pinned else "."))
    if written.retired is not None:
        click.echo(f"The key it replaced is kept as {written.retired}.")
    if not sources.master_from_file():
        click.echo("HOSO_MASTER_KEY is set and takes precedence over this file: put the key there, or unset it.")
    if pinned is not None and _database_ready():
        _announce("combine", master_key=rebuilt, written=not written.unchanged,
                  replaced=written.retired is not None)
        db.session.commit()
    else:
        click.echo("The database is not reachable (or not initialised yet): this recovery is not in the "
                   "audit trail. Note it in the key register, and tell the auditors once the instance runs.")
