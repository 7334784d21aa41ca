"""`paygate routes import FILE` on SQLite and PostgreSQL: the file format in --help, each bad row
reported by line and field while the good ones are imported, added vs updated counted, and rows
without a device token (the real sellers) accepted without touching a token stored earlier."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from domain.seller_route import SellerRoute

from entrypoints import cli

from config.settings import Settings

from tests.support.cli import cli_runner
from tests.support.gateways import with_container

SELLERS = Path(__file__).resolve().parents[2] / "demo" / "sellers.csv"
TOKEN = "5b1f0a2e-6c1d-4c8e-9a3b-0000000000aa"


@pytest.fixture
def paygate(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`paygate` on each backend in turn (PostgreSQL's database is the session's: fresh shop ids)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PRODUCTION_API_URL", "simulator")  # Kaspi routes need Kaspi configured
    return cli_runner(capsys)


@pytest.fixture
def paygate_on_empty(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PRODUCTION_API_URL", "simulator")
    return cli_runner(capsys)


def stored(database_url: str, shop: int) -> SellerRoute | None:
    async def read(container: Any) -> SellerRoute | None:
        route: SellerRoute | None = await container.route_store().get(shop, "kaspi")
        return route

    return with_container(Settings(database_url=database_url), read)


def shops(count: int) -> list[int]:
    first = 700_000 + secrets.randbelow(9_000) * 10
    return [first + i for i in range(count)]


def test_import_help_gives_the_file_format(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["routes", "import", "--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "shop_id,organization_bin,device_token,is_active,provider" in out
    assert "device_token      optional" in out and ".json" in out


def test_bad_rows_are_reported_by_line_and_field_and_the_good_ones_imported(
    paygate: Any, database_url: str, tmp_path: Path
) -> None:
    good, bad_bin, bad_active, also_good = shops(4)
    sellers = tmp_path / "sellers.csv"
    sellers.write_text(
        "# exported from the old service\n"
        "shop_id,organization_bin,device_token,is_active,name\n"
        f"{good},180340021791,,true,Roses\n"
        "twelve,180340021791,,true,Bad id\n"
        f"{bad_bin},180340021792,,true,Bad BIN\n"
        f"{bad_active},180340021791,,perhaps,Bad flag\n"
        f"{also_good},940140000385,{TOKEN},,Tulips\n"
    )

    code, _out, err = paygate("routes", "import", str(sellers))

    assert code == 1
    assert f"{sellers}: line 4: shop_id: " in err
    assert f"{sellers}: line 5: organization_bin: " in err
    assert f"{sellers}: line 6: is_active: " in err
    assert "routes: 2 added, 0 updated, 0 unchanged, 3 refused" in err
    assert stored(database_url, good) is not None and stored(database_url, bad_bin) is None
    route = stored(database_url, also_good)
    assert route is not None and route.credentials.get("device_token") == TOKEN


def test_a_row_without_a_token_updates_the_route_and_keeps_the_stored_token(
    paygate: Any, database_url: str, tmp_path: Path
) -> None:
    [shop] = shops(1)
    assert paygate("routes", "add", "--shop-id", str(shop), "--bin", "180340021791", "--device-token", TOKEN)[0] == 0
    sellers = tmp_path / "sellers.csv"
    sellers.write_text(f"shop_id,organization_bin\n{shop},940140000385\n")

    code, _out, err = paygate("routes", "import", str(sellers))
    rerun = paygate("routes", "import", str(sellers))

    assert code == 0
    assert "routes: 0 added, 1 updated, 0 unchanged, 0 refused" in err
    assert "routes: 0 added, 0 updated, 1 unchanged, 0 refused" in rerun[2]
    route = stored(database_url, shop)
    assert route is not None
    assert (route.merchant_account, route.credentials.get("device_token")) == ("940140000385", TOKEN)


def test_a_json_file_reports_bad_items_by_number(paygate: Any, database_url: str, tmp_path: Path) -> None:
    [shop] = shops(1)
    sellers = tmp_path / "sellers.json"
    sellers.write_text(f'[{{"shop_id": {shop}, "organization_bin": "180340021791"}}, {{"shop_id": 5}}, 7]')

    code, _out, err = paygate("routes", "import", str(sellers))

    assert code == 1
    assert "item 2: organization_bin: " in err and "item 3: " in err
    assert "routes: 1 added" in err
    assert stored(database_url, shop) is not None


def test_the_real_sellers_file_imports_without_any_device_token(sqlite_url: str, paygate_on_empty: Any) -> None:
    code, _out, err = paygate_on_empty("routes", "import", str(SELLERS))

    assert code == 0, err
    assert "routes: 8 added, 0 updated, 0 unchanged, 0 refused" in err
    route = stored(sqlite_url, 8)
    assert route is not None and route.merchant_account == "891027350515" and not route.credentials.values


def test_an_unreadable_file_is_one_clear_error(paygate_on_empty: Any, tmp_path: Path) -> None:
    headerless = tmp_path / "sellers.csv"
    headerless.write_text("8,891027350515\n")

    code, _out, err = paygate_on_empty("routes", "import", str(headerless))

    assert code == 2
    assert "the header must name" in err
