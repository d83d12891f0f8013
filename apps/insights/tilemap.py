"""方块地图: the 31 provincial-level regions as equal tiles on a grid that keeps their rough
neighbourhood (north-east top right, south bottom, west left).

Why tiles and not a geographic map: a map of China published in China needs a 审图号 (map
review number), and the boundary data must be the reviewed one; the npm packages of China
GeoJSON we could find carry no 审图号. Tiles also give every province the same weight to
the eye (Beijing is as visible as Xinjiang), which suits a comparison of means. See
docs/METHOD.md ("数据地图").

Colour classes are fixed score bands (not quantiles), so a colour means the same in every
period: below 40, 40–50, 50–60, 60–70, 70 and above.
"""

from __future__ import annotations

from dataclasses import dataclass

# province code → (row, column, short name)
TILES: dict[str, tuple[int, int, str]] = {
    "230000": (0, 7, "黑龙江"),
    "650000": (1, 1, "新疆"), "150000": (1, 4, "内蒙古"), "220000": (1, 7, "吉林"),
    "620000": (2, 2, "甘肃"), "640000": (2, 3, "宁夏"), "140000": (2, 4, "山西"), "110000": (2, 5, "北京"),
    "120000": (2, 6, "天津"), "210000": (2, 7, "辽宁"),
    "540000": (3, 1, "西藏"), "630000": (3, 2, "青海"), "610000": (3, 3, "陕西"), "410000": (3, 4, "河南"),
    "130000": (3, 5, "河北"), "370000": (3, 6, "山东"),
    "510000": (4, 2, "四川"), "500000": (4, 3, "重庆"), "420000": (4, 4, "湖北"), "340000": (4, 5, "安徽"),
    "320000": (4, 6, "江苏"), "310000": (4, 7, "上海"),
    "530000": (5, 2, "云南"), "520000": (5, 3, "贵州"), "430000": (5, 4, "湖南"), "360000": (5, 5, "江西"),
    "330000": (5, 6, "浙江"),
    "450000": (6, 3, "广西"), "440000": (6, 4, "广东"), "350000": (6, 5, "福建"),
    "460000": (7, 4, "海南"),
}  # fmt: skip
BANDS = (40.0, 50.0, 60.0, 70.0)  # upper bounds of bands 0–3; band 4 is 70 and above


@dataclass
class Tile:
    code: str
    row: int
    col: int
    short: str
    name: str
    mean: float | None
    band: str  # "b0".."b4", "hidden" (not published), "none" (no cell)
    link: str = ""


def band_of(mean: float | None) -> int | None:
    if mean is None:
        return None
    return sum(mean >= b for b in BANDS)


def province_tiles(rows: list[dict]) -> list[Tile]:
    """Tiles for the province rows of a page (as the reader may see them: a hidden cell
    carries no value and is drawn as 不公开)."""
    by_code = {r["code"]: r for r in rows}
    tiles = []
    for code, (row, col, short) in TILES.items():
        r = by_code.get(code)
        if r is None:
            tiles.append(Tile(code, row, col, short, short, None, "none"))
            continue
        mean = None if r.get("hidden") else r.get("mean")
        band = "hidden" if r.get("hidden") else ("none" if mean is None else f"b{band_of(mean)}")
        tiles.append(Tile(code, row, col, short, r.get("name") or short, mean, band, r.get("link", "")))
    return tiles
