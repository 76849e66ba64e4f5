"""Fictional people for the demo organisation's dossiers (`flask --app app demo`)."""

from __future__ import annotations

from datetime import date

from protection.accounts import find_unit

from . import subjects
from .subjects import RelativeData, SubjectData

DEMO_SUBJECTS = (
    ("BTCTU", SubjectData("Trần Văn Hòa", date(1978, 3, 14), "038078001234", sex="male", native_place="Xã Đông Sơn",
                          current_unit="Sở Kế hoạch và Đầu tư", position="Phó Giám đốc", ethnicity="Kinh",
                          party_admission_date=date(2004, 5, 19), party_official_date=date(2005, 5, 19)),
     (RelativeData("father", "Trần Văn Quý", 1950, "Xã Đông Sơn", "Nghỉ hưu", True),
      RelativeData("mother", "Lê Thị Thơm", 1953, "Xã Đông Sơn", "Làm ruộng", False),
      RelativeData("spouse", "Nguyễn Thị Huệ", 1981, "Phường Bắc Sơn", "Giáo viên", True))),
    ("BTCTU", SubjectData("Lê Thị Mai", date(1985, 11, 2), "038185004567", sex="female", native_place="Xã Hải Hà",
                          current_unit="Báo tỉnh", position="Trưởng phòng", ethnicity="Kinh"),
     (RelativeData("father", "Lê Văn Tâm", 1958, "Xã Hải Hà", "Ngư dân", False),)),
    ("BTCTU", SubjectData("Phạm Đức Long", date(1990, 7, 21), "038090007890", sex="male", native_place="Xã Yên Lạc",
                          current_unit="Huyện đoàn Sơn Hà", position="Bí thư", ethnicity="Mường",
                          party_admission_date=date(2012, 9, 2), party_official_date=date(2013, 9, 2)),
     ()),
    ("HU-SONHA", SubjectData("Đinh Văn Tú", date(1982, 1, 9), "038082002468", sex="male", native_place="Xã Sơn Thủy",
                             current_unit="UBND xã Sơn Thủy", position="Chủ tịch", ethnicity="Thái"),
     (RelativeData("spouse", "Lò Thị Én", 1984, "Xã Sơn Thủy", "Làm nương", False),)),
)


def seed_demo_subjects() -> list[str]:
    created = 0
    for unit_code, data, relatives in DEMO_SUBJECTS:
        unit = find_unit(unit_code)
        if unit is None or subjects.find_in_unit(data.id_number, unit.id) is not None:
            continue
        subject = subjects.create_subject(data, owner_unit=unit, by=None)
        for relative in relatives:
            subjects.add_relative(subject, relative, by=None)
        created += 1
    return [f"Demo dossiers: {created} created, {len(DEMO_SUBJECTS) - created} already there."]
