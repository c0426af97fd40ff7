"""Instance and BKS readers on hand-written files and on the shared benchmark data."""

from dataclasses import replace
from pathlib import Path

import pytest

from services.bench.instances import bks_for, read_instance, read_lilim, read_vrplib
from services.bench.runner import default_data_dir, resolve
from tests.unit.bench.samples import LILIM_TEXT, VRPLIB_TEXT


def shared_dir() -> Path:
    data = default_data_dir()
    assert data.is_dir(), f"benchmark data missing at {data} (set HINTERLAND_BENCHMARKS)"
    return data


def test_a_vrplib_file_gives_depot_first_with_its_windows_demands_and_service(vrplib_file):
    instance = read_vrplib(vrplib_file)

    assert instance.name == "TINY"
    assert instance.coords == ((0, 0), (3, 4), (-3, 4), (0, -6))
    assert instance.demands == (0, 4, 5, 6)
    assert instance.windows == ((0, 100), (0, 50), (10, 60), (0, 90))
    assert instance.service == (0, 5, 5, 5)
    assert (instance.fleet_size, instance.capacity, instance.pairs) == (2, 10, ())
    assert instance.num_customers == 3


def test_a_li_lim_file_gives_pickup_delivery_pairs_and_negative_delivery_demands(lilim_file):
    instance = read_instance(lilim_file)

    assert instance.pairs == ((1, 2), (4, 3))
    assert instance.demands == (0, 4, -4, -5, 5)
    assert instance.service == (0, 2, 2, 2, 2)
    assert (instance.fleet_size, instance.capacity) == (2, 10)


def test_a_malformed_coordinate_is_reported_with_file_and_line(tmp_path):
    path = tmp_path / "bad.vrp"
    path.write_text(VRPLIB_TEXT.replace("3 -3 4", "3 -3 four"))

    with pytest.raises(ValueError, match=r"bad\.vrp:11: not a number"):
        read_vrplib(path)


def test_a_missing_section_is_reported_with_the_file(tmp_path):
    path = tmp_path / "nowindows.vrp"
    text = VRPLIB_TEXT.split("TIME_WINDOW_SECTION")[0] + "DEPOT_SECTION\n1\n-1\nEOF\n"
    path.write_text(text)

    with pytest.raises(ValueError, match=r"nowindows\.vrp.*missing TIME_WINDOW_SECTION"):
        read_vrplib(path)


def test_a_li_lim_delivery_that_does_not_point_back_is_reported_with_its_line(tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text(
        LILIM_TEXT.replace("2\t6\t8\t-4\t0\t150\t2\t1\t0", "2\t6\t8\t-4\t0\t150\t2\t4\t0")
    )

    with pytest.raises(ValueError, match=r"broken\.txt:3: pickup 1"):
        read_lilim(path)


def test_a_li_lim_speed_of_zero_reads_as_unit_speed_and_other_speeds_are_refused(
    tmp_path, lilim_file
):
    zero = tmp_path / "zero.txt"
    zero.write_text(LILIM_TEXT.replace("2\t10\t1\n", "2\t10\t0\n", 1))
    two = tmp_path / "two.txt"
    two.write_text(LILIM_TEXT.replace("2\t10\t1\n", "2\t10\t2\n", 1))

    unit, unused = read_lilim(lilim_file), read_lilim(zero)
    assert replace(unused, name=unit.name, path=unit.path) == unit
    with pytest.raises(ValueError, match=r"two\.txt:1: only speed 1"):
        read_lilim(two)


def test_an_unknown_extension_is_refused():
    with pytest.raises(ValueError, match="unknown instance format"):
        read_instance(Path("instance.json"))


def test_the_shared_solomon_c101_reads_with_both_bks_conventions():
    instance = read_instance(shared_dir() / "solomon" / "C101.vrp")

    assert instance.num_customers == 100
    assert (instance.fleet_size, instance.capacity) == (25, 200)
    assert instance.service[0] == 0
    assert set(instance.service[1:]) == {90}
    bks = bks_for(instance)
    assert (bks["distance"].vehicles, bks["distance"].distance) == (10, 827.3)
    assert bks["distance"].distance_convention == "dimacs_trunc1"
    assert (bks["hierarchical"].vehicles, bks["hierarchical"].distance) == (10, 828.94)


def test_the_shared_li_lim_lc101_pairs_every_customer_once():
    instance = read_instance(shared_dir() / "lilim" / "lc101.txt")

    paired = [node for pair in instance.pairs for node in pair]
    assert sorted(paired) == list(range(1, instance.num_customers + 1))
    assert set(bks_for(instance)) == {"hierarchical"}


def test_set_names_and_instance_names_resolve_to_files_in_the_data_dir():
    data = shared_dir()

    assert resolve(["R1_2_1", "lc101"], data) == [
        data / "homberger" / "R1_2_1.vrp",
        data / "lilim" / "lc101.txt",
    ]
    assert len(resolve(["solomon"], data)) == 56


def test_an_unknown_target_names_itself_and_the_data_dir(tmp_path):
    with pytest.raises(ValueError, match="'X999' is neither"):
        resolve(["X999"], tmp_path)
