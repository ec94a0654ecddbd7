"""The demo company's organisation: a Taiwanese car-dealer group, its regions, branches, teams and
staff — as plain data, so that the customer generator can refer to unit and staff codes without a
database, and the loader can create exactly these rows.

Blue Magpie Motors (藍鵲汽車) is fictitious; it sells and services cars like the dealer in seed 003.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rapport.core.demo.names import chinese_name

TIME_ZONE = "Asia/Taipei"
ENTERPRISE_CODE = "blue-magpie"
ENTERPRISE_NAME = "藍鵲汽車 Blue Magpie Motors"
CONTACT_CENTRE_CODE = "contact-centre"


@dataclass(frozen=True, slots=True)
class UnitSpec:
    code: str
    name: str
    kind: str  # enterprise, region, branch, team
    parent: str | None
    time_zone: str = TIME_ZONE


@dataclass(frozen=True, slots=True)
class BranchSpec:
    code: str
    name_zh: str
    name_en: str
    region: str
    weight: int  # share of the customers whose home branch it is
    advisors: int  # service advisors in its service team
    consultants: int  # sales consultants in its sales team
    time_zone: str = TIME_ZONE

    @property
    def service_team(self) -> str:
        return f"{self.code}-service"

    @property
    def sales_team(self) -> str:
        return f"{self.code}-sales"

    def advisor_code(self, n: int) -> str:
        return f"{self.code}-sa{n + 1:02d}"

    def consultant_code(self, n: int) -> str:
        return f"{self.code}-sc{n + 1:02d}"

    @property
    def manager_code(self) -> str:
        return f"{self.code}-bm"

    @property
    def relations_code(self) -> str:
        """The branch's customer-relations officer: handles complaints and follow-ups."""
        return f"{self.code}-cr"


@dataclass(frozen=True, slots=True)
class StaffSpec:
    code: str
    display_name: str
    unit: str
    role: str  # a login role (rapport.org.models.Staff.Role)
    title: str  # the job, for people reading the demo
    username: str | None = None  # a demo login, when this person gets one


REGIONS: tuple[UnitSpec, ...] = (
    UnitSpec("north", "北區 North Taiwan", "region", ENTERPRISE_CODE),
    UnitSpec("central", "中區 Central Taiwan", "region", ENTERPRISE_CODE),
    UnitSpec("south", "南區 South Taiwan", "region", ENTERPRISE_CODE),
)

BRANCHES: tuple[BranchSpec, ...] = (
    BranchSpec("taipei", "台北", "Taipei", "north", 22, 6, 5),
    BranchSpec("taoyuan", "桃園", "Taoyuan", "north", 14, 4, 3),
    BranchSpec("hsinchu", "新竹", "Hsinchu", "north", 11, 4, 3),
    BranchSpec("taichung", "台中", "Taichung", "central", 16, 5, 4),
    BranchSpec("changhua", "彰化", "Changhua", "central", 8, 3, 2),
    BranchSpec("tainan", "台南", "Tainan", "south", 11, 4, 3),
    BranchSpec("kaohsiung", "高雄", "Kaohsiung", "south", 13, 4, 4),
    BranchSpec("pingtung", "屏東", "Pingtung", "south", 5, 3, 2),
)
BRANCH_BY_CODE = {b.code: b for b in BRANCHES}
BRANCH_WEIGHTS = [b.weight for b in BRANCHES]

CONTACT_CENTRE_AGENTS = 6

# Branches whose customer-relations officer (agent) and manager (unit manager) get a demo login.
LOGIN_BRANCH_AGENTS = ("taipei", "taichung", "kaohsiung")
LOGIN_MANAGER_BRANCH = "taipei"


def units() -> list[UnitSpec]:
    """Every unit, parents before children."""
    out = [UnitSpec(ENTERPRISE_CODE, ENTERPRISE_NAME, "enterprise", None)]
    out.extend(REGIONS)
    out.append(UnitSpec(CONTACT_CENTRE_CODE, "客服中心 Contact Centre", "team", ENTERPRISE_CODE))
    for b in BRANCHES:
        out.append(UnitSpec(b.code, f"{b.name_zh} {b.name_en}", "branch", b.region, b.time_zone))
    for b in BRANCHES:
        out.append(
            UnitSpec(b.service_team, f"{b.name_zh}服務廠 {b.name_en} Service", "team", b.code)
        )
        out.append(
            UnitSpec(b.sales_team, f"{b.name_zh}展示中心 {b.name_en} Showroom", "team", b.code)
        )
    return out


def staff(seed: int) -> list[StaffSpec]:
    """Every staff member, with names drawn from the seed; the demo logins are among them."""
    rng = random.Random(f"{seed}/staff")

    def name() -> str:
        return chinese_name(rng).display

    out = [
        StaffSpec("admin", name(), ENTERPRISE_CODE, "admin", "System administrator", "admin"),
        StaffSpec("cx-manager", name(), ENTERPRISE_CODE, "cx_manager", "CX manager", "cx"),
        StaffSpec("analyst", name(), ENTERPRISE_CODE, "analyst", "CX analyst", "analyst"),
    ]
    for region in REGIONS:
        out.append(
            StaffSpec(f"{region.code}-rm", name(), region.code, "unit_manager", "Regional manager")
        )
    for n in range(CONTACT_CENTRE_AGENTS):
        out.append(
            StaffSpec(
                f"cc-{n + 1:02d}", name(), CONTACT_CENTRE_CODE, "agent", "Contact-centre agent"
            )
        )
    for b in BRANCHES:
        manager_login = f"{b.code}.manager" if b.code == LOGIN_MANAGER_BRANCH else None
        agent_login = f"{b.code}.agent" if b.code in LOGIN_BRANCH_AGENTS else None
        out.append(
            StaffSpec(
                b.manager_code, name(), b.code, "unit_manager", "Branch manager", manager_login
            )
        )
        out.append(
            StaffSpec(
                b.relations_code, name(), b.code, "agent", "Customer-relations officer", agent_login
            )
        )
        for n in range(b.advisors):
            out.append(
                StaffSpec(b.advisor_code(n), name(), b.service_team, "agent", "Service advisor")
            )
        for n in range(b.consultants):
            out.append(
                StaffSpec(b.consultant_code(n), name(), b.sales_team, "agent", "Sales consultant")
            )
    return out


def contact_centre_agent(n: int) -> str:
    return f"cc-{n % CONTACT_CENTRE_AGENTS + 1:02d}"


def login_staff_codes() -> dict[str, str]:
    """Demo login username → staff code (the same for every seed; only names vary)."""
    return {s.username: s.code for s in staff(0) if s.username}
