"""Every operation in the schema, exercised with generated data.

`call_and_validate` runs Schemathesis' checks on each response: no 5xx, status codes and
content types declared in the schema, bodies conforming to the response schema, and more.
"""

import schemathesis

schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_operations_conform_to_schema(case, auth_headers):
    case.call_and_validate(headers=auth_headers)
