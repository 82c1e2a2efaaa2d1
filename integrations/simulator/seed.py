"""The four sample companies and their reference data (items, accounts, tax codes, tax rates).

Used by the data migration (with historical models) and by the control API's reset (with the real ones),
so it only touches plain model fields.
"""

from __future__ import annotations

from datetime import datetime

US_REALM_ID = "9341453050298541"
CA_REALM_ID = "9130357766900456"
GB_REALM_ID = "4620816365180392970"
AST_REALM_ID = "9341453050298542"

# Automated Sales Tax (the AST company): the combined rate by state (CountrySubDivisionCode of the
# address AST uses), split into the rates of that state's AST tax code. States not listed: no tax (the
# "Out of state" code, 0 %). The simulator's own table, not Intuit's (AST's real rates come from a tax
# service and change); close to the 2025 combined rates of a big city in each state.
AST_STATE_RATES: dict[str, dict] = {
    "CA": {"code_id": "2", "name": "California", "rates": [("1", "CA State", 6), ("2", "CA District", 1.25)]},
    "NY": {
        "code_id": "3",
        "name": "New York",
        "rates": [("3", "NY State", 4), ("4", "NYC", 4.5), ("5", "NY MCTD", 0.375)],
    },
    "TX": {"code_id": "4", "name": "Texas", "rates": [("6", "TX State", 6.25), ("7", "TX Local", 2)]},
    "WA": {"code_id": "5", "name": "Washington", "rates": [("8", "WA State", 6.5), ("9", "WA Local", 3.6)]},
}
AST_OUT_OF_STATE = {"code_id": "6", "name": "Out of state", "rates": [("10", "Out of state", 0)]}


def _ast_tax_data() -> tuple[list[dict], list[dict]]:
    rates, codes = [], [
        {"Id": "TAX", "Name": "TAX", "Description": "TAX", "Taxable": True, "rates": []},
        {"Id": "NON", "Name": "NON", "Description": "NON", "Taxable": False, "rates": []},
    ]
    for spec in [*AST_STATE_RATES.values(), AST_OUT_OF_STATE]:
        for rate_id, name, value in spec["rates"]:
            rates.append({"Id": rate_id, "Name": name, "RateValue": value})
        codes.append(
            {
                "Id": spec["code_id"],
                "Name": spec["name"],
                "Description": f"{spec['name']} (Automated Sales Tax)",
                "Taxable": True,
                "rates": [rate_id for rate_id, _, _ in spec["rates"]],
            }
        )
    return rates, codes


def _accounts(income_name: str, tax_payable_name: str) -> list[dict]:
    return [
        {
            "Id": "1",
            "Name": "Services",
            "AccountType": "Income",
            "AccountSubType": "ServiceFeeIncome",
            "Classification": "Revenue",
        },
        {
            "Id": "2",
            "Name": income_name,
            "AccountType": "Income",
            "AccountSubType": "SalesOfProductIncome",
            "Classification": "Revenue",
        },
        {
            "Id": "3",
            "Name": "Accounts Receivable (A/R)",
            "AccountType": "Accounts Receivable",
            "AccountSubType": "AccountsReceivable",
            "Classification": "Asset",
        },
        {
            "Id": "4",
            "Name": "Undeposited Funds",
            "AccountType": "Other Current Asset",
            "AccountSubType": "UndepositedFunds",
            "Classification": "Asset",
        },
        {
            "Id": "5",
            "Name": "Checking",
            "AccountType": "Bank",
            "AccountSubType": "Checking",
            "Classification": "Asset",
        },
        {
            "Id": "6",
            "Name": tax_payable_name,
            "AccountType": "Other Current Liability",
            "AccountSubType": "SalesTaxPayable",
            "Classification": "Liability",
        },
        {
            "Id": "7",
            "Name": "Old Income (inactive)",
            "AccountType": "Income",
            "AccountSubType": "OtherPrimaryIncome",
            "Classification": "Revenue",
            "Active": False,
        },
    ]


def _items(income_name: str) -> list[dict]:
    return [
        {"Id": "1", "Name": "Services", "UnitPrice": 0, "IncomeAccountRef": ("1", "Services")},
        {
            "Id": "2",
            "Name": "Consulting",
            "UnitPrice": 150,
            "IncomeAccountRef": ("1", "Services"),
            "Description": "Consulting, per hour",
        },
        {
            "Id": "3",
            "Name": "Design",
            "UnitPrice": 75,
            "IncomeAccountRef": ("1", "Services"),
            "Description": "Design work, per hour",
        },
        {"Id": "4", "Name": "Installation", "UnitPrice": 50, "IncomeAccountRef": ("2", income_name)},
        {
            "Id": "5",
            "Name": "Retired Service",
            "UnitPrice": 10,
            "IncomeAccountRef": ("1", "Services"),
            "Active": False,
        },
    ]


SAMPLE_COMPANIES: list[dict] = [
    {
        "realm_id": US_REALM_ID,
        "name": "Sandbox Company US 1",
        "legal_name": "Sandbox Company US 1",
        "country": "US",
        "home_currency": "USD",
        "multicurrency_enabled": False,
        "tax_style": "us",
        "time_zone": "America/Los_Angeles",
        "address_line1": "123 Sierra Way",
        "city": "San Pablo",
        "region": "CA",
        "postal_code": "87999",
        "email": "noreply@sandbox-us.example",
        "automated_sales_tax": False,
        "accounts": _accounts("Sales of Product Income", "Board of Equalization Payable"),
        "items": _items("Sales of Product Income"),
        "tax_rates": [
            {"Id": "1", "Name": "California", "RateValue": 8},
            {"Id": "2", "Name": "Tucson City", "RateValue": 2},
            {"Id": "3", "Name": "AZ State tax", "RateValue": 7.1},
        ],
        # TAX and NON are the pseudo codes lines use; 2 and 3 are transaction-level codes (TxnTaxCodeRef).
        "tax_codes": [
            {"Id": "TAX", "Name": "TAX", "Description": "TAX", "Taxable": True, "rates": []},
            {"Id": "NON", "Name": "NON", "Description": "NON", "Taxable": False, "rates": []},
            {"Id": "2", "Name": "California", "Description": "California", "Taxable": True, "rates": ["1"]},
            {"Id": "3", "Name": "Tucson", "Description": "Tucson", "Taxable": True, "rates": ["2", "3"]},
        ],
    },
    {
        "realm_id": CA_REALM_ID,
        "name": "Maple Leaf Supplies",
        "legal_name": "Maple Leaf Supplies Inc.",
        "country": "CA",
        "home_currency": "CAD",
        "multicurrency_enabled": True,
        "tax_style": "per_line",
        "time_zone": "America/Toronto",
        "address_line1": "100 King Street West",
        "city": "Toronto",
        "region": "ON",
        "postal_code": "M5X 1A9",
        "email": "noreply@mapleleaf.example",
        "accounts": _accounts("Sales", "GST/HST Payable"),
        "items": _items("Sales"),
        "tax_rates": [
            {"Id": "1", "Name": "GST", "RateValue": 5},
            {"Id": "2", "Name": "HST ON", "RateValue": 13},
            {"Id": "3", "Name": "Exempt", "RateValue": 0},
        ],
        "tax_codes": [
            {"Id": "4", "Name": "GST", "Description": "GST", "Taxable": True, "rates": ["1"]},
            {"Id": "5", "Name": "HST ON", "Description": "HST ON", "Taxable": True, "rates": ["2"]},
            {"Id": "6", "Name": "Exempt", "Description": "Exempt", "Taxable": False, "rates": ["3"]},
        ],
    },
    {
        "realm_id": GB_REALM_ID,
        "name": "Thames Trading Ltd",
        "legal_name": "Thames Trading Limited",
        "country": "GB",
        "home_currency": "GBP",
        "multicurrency_enabled": False,
        "tax_style": "per_line",
        "time_zone": "Europe/London",
        "address_line1": "1 Riverside Walk",
        "city": "London",
        "region": "",
        "postal_code": "SE1 9PP",
        "email": "noreply@thames.example",
        "accounts": _accounts("Sales", "VAT Control"),
        "items": _items("Sales"),
        "tax_rates": [
            {"Id": "1", "Name": "20.0% S", "RateValue": 20},
            {"Id": "2", "Name": "0.0% Z", "RateValue": 0},
            {"Id": "3", "Name": "Exempt", "RateValue": 0},
        ],
        "tax_codes": [
            {
                "Id": "2",
                "Name": "20.0% S",
                "Description": "Standard rated 20%",
                "Taxable": True,
                "rates": ["1"],
            },
            {"Id": "3", "Name": "0.0% Z", "Description": "Zero-rated", "Taxable": True, "rates": ["2"]},
            {"Id": "4", "Name": "Exempt", "Description": "Exempt", "Taxable": False, "rates": ["3"]},
        ],
    },
    {
        "realm_id": AST_REALM_ID,
        "name": "Sandbox Company US AST",
        "legal_name": "Sandbox Company US AST",
        "country": "US",
        "home_currency": "USD",
        "multicurrency_enabled": False,
        "tax_style": "us",
        "time_zone": "America/Los_Angeles",
        "address_line1": "2700 Coast Avenue",
        "city": "Mountain View",
        "region": "CA",
        "postal_code": "94043",
        "email": "noreply@sandbox-us-ast.example",
        "automated_sales_tax": True,
        "accounts": _accounts("Sales of Product Income", "California Department of Tax and Fee Administration Payable"),
        "items": _items("Sales of Product Income"),
        "tax_rates": _ast_tax_data()[0],
        "tax_codes": _ast_tax_data()[1],
    },
]

COMPANY_FIELDS = (
    "realm_id",
    "name",
    "legal_name",
    "country",
    "home_currency",
    "multicurrency_enabled",
    "tax_style",
    "time_zone",
    "address_line1",
    "city",
    "region",
    "postal_code",
    "email",
    "automated_sales_tax",
)


def _number(entity_id: str) -> int | None:
    return int(entity_id) if entity_id.isdigit() else None


def seed_sample_companies(company_model, entity_model, now: datetime, realm_ids=None) -> None:
    """Create the sample companies (all, or those of `realm_ids`; skipping realms that exist) with their
    reference data. Only fields the (possibly historical) model has are set."""
    model_fields = {field.name for field in company_model._meta.get_fields()}
    for spec in SAMPLE_COMPANIES:
        if realm_ids is not None and spec["realm_id"] not in realm_ids:
            continue
        if company_model.objects.filter(realm_id=spec["realm_id"]).exists():
            continue
        company = company_model.objects.create(
            created_at=now, **{f: spec[f] for f in COMPANY_FIELDS if f in model_fields and f in spec}
        )
        rows = []

        def add(entity_type, entity_id, name, body, active=True, company=company, rows=rows):
            rows.append(
                entity_model(
                    company=company,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    number=_number(entity_id),
                    active=active,
                    name=name,
                    name_key=name.lower(),
                    body=body,
                    created_at=now,
                    updated_at=now,
                )
            )

        currency = {"value": spec["home_currency"]}
        for account in spec["accounts"]:
            body = {k: v for k, v in account.items() if k not in ("Id", "Active")}
            body.update(
                {
                    "FullyQualifiedName": account["Name"],
                    "SubAccount": False,
                    "CurrentBalance": 0,
                    "CurrencyRef": currency,
                }
            )
            add("Account", account["Id"], account["Name"], body, account.get("Active", True))
        for item in spec["items"]:
            income_id, income_name = item["IncomeAccountRef"]
            body = {
                "Name": item["Name"],
                "FullyQualifiedName": item["Name"],
                "Type": "Service",
                "UnitPrice": item["UnitPrice"],
                "Taxable": spec["country"] == "US",
                "IncomeAccountRef": {"value": income_id, "name": income_name},
                "TrackQtyOnHand": False,
            }
            if "Description" in item:
                body["Description"] = item["Description"]
            add("Item", item["Id"], item["Name"], body, item.get("Active", True))
        rate_names = {}
        for rate in spec["tax_rates"]:
            rate_names[rate["Id"]] = rate["Name"]
            body = {
                "Name": rate["Name"],
                "Description": rate["Name"],
                "RateValue": rate["RateValue"],
                "SpecialTaxType": "NONE",
                "DisplayType": "ReadOnly",
                "AgencyRef": {"value": "1"},
            }
            add("TaxRate", rate["Id"], rate["Name"], body)
        for code in spec["tax_codes"]:
            details = [
                {
                    "TaxRateRef": {"value": rate_id, "name": rate_names[rate_id]},
                    "TaxTypeApplicable": "TaxOnAmount",
                    "TaxOrder": 0,
                }
                for rate_id in code["rates"]
            ]
            body = {
                "Name": code["Name"],
                "Description": code["Description"],
                "Taxable": code["Taxable"],
                "TaxGroup": len(details) > 1,
                "Hidden": False,
                "SalesTaxRateList": {"TaxRateDetail": details},
                "PurchaseTaxRateList": {"TaxRateDetail": []},
            }
            add("TaxCode", code["Id"], code["Name"], body)
        entity_model.objects.bulk_create(rows)
