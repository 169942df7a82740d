@{{ epic_key }}-3 @FR-4
Feature: Sign out other sessions after a reset

  Scenario: Other devices are signed out
    Given I am signed in on "laptop" and "phone"
    When I complete a password reset on "phone"
    Then "laptop" is signed out at its next request
    And the security e-mail says "1 other session was signed out"
