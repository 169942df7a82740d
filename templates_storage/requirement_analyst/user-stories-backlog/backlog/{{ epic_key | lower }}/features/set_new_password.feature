@{{ epic_key }}-2 @FR-3
Feature: Set a new password from a reset link

  Scenario: Valid link
    Given a reset link issued 10 minutes ago
    When I open the link and enter a valid new password twice
    Then my password is changed
    And I am signed in

  Scenario Outline: Unusable links are rejected
    Given a reset link that <state>
    When I open the link
    Then I see "This link has expired"
    And I can request a new link

    Examples:
      | state                   |
      | was issued 31 minutes ago |
      | has already been used   |

  Scenario: Password policy violations are explained
    Given a reset link issued 1 minute ago
    When I enter the new password "short"
    Then I see "Use at least 12 characters" next to the password field
    And the password field keeps my input
