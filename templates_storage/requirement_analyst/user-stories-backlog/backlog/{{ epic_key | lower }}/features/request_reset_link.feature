@{{ epic_key }}-1 @FR-1 @FR-2
Feature: Request a password-reset link
  As a {{ persona }} who forgot my password
  I want to request a reset link by e-mail
  So that I can regain access without contacting support

  Background:
    Given I am on the login page

  Scenario: Registered address receives a link
    When I request a password reset for "ada@example.com"
    Then I see the message "If an account exists, we've sent a link"
    And a reset e-mail is sent to "ada@example.com" within 10 seconds

  Scenario: Unknown address gets the same response
    When I request a password reset for "nobody@example.com"
    Then I see the message "If an account exists, we've sent a link"
    And no e-mail is sent
    And the response time is indistinguishable from a registered address

  Scenario Outline: Requests are rate limited per address
    Given "ada@example.com" has requested <previous> links in the last hour
    When I request a password reset for "ada@example.com"
    Then an e-mail is <sent>

    Examples:
      | previous | sent     |
      | 4        | sent     |
      | 5        | not sent |
