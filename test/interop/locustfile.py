"""The seed's Locust scenario: a new account deposits 1000, then withdraws 50 three times,
polling each saga every 0.5 s until it ends. Every request times out after 3 s.

Each started saga is appended to the file named by SAGA_LOG ("account transactionId"), so
the test can check afterwards that every one of them ended status#success.
"""
import os
import random
import string
import time

from locust import HttpUser, constant, task

TIMEOUT_SECONDS = 3
POLL_SECONDS = 0.5
SAGA_DEADLINE_SECONDS = 20

saga_log = open(os.environ["SAGA_LOG"], "a", buffering=1)


class BankCustomer(HttpUser):
    wait_time = constant(0)

    @task
    def deposit_then_withdraw(self):
        account = "".join(random.choices(string.ascii_letters, k=20))
        headers = {"X_ACCOUNT_ID": account}
        # The seed closes the connection after its deposit.
        self.run_saga("deposit", 1000, {**headers, "Connection": "close"})
        for _ in range(3):
            self.run_saga("withdraw", 50, headers)

    def run_saga(self, kind, quantity, headers):
        with self.client.post(
            f"/transaction/{kind}",
            json={"quantity": quantity},
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{kind} answered {response.status_code}: {response.text}")
                return
            transaction_id = response.json()["transactionId"]
        saga_log.write(f"{headers['X_ACCOUNT_ID']} {transaction_id}\n")

        deadline = time.monotonic() + SAGA_DEADLINE_SECONDS
        while True:
            time.sleep(POLL_SECONDS)
            with self.client.get(
                f"/transaction/{transaction_id}",
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                name="/transaction/[transactionId]",
                catch_response=True,
            ) as response:
                status = response.json().get("status") if response.status_code == 200 else None
                if status == "status#success":
                    return
                if status != "status#pending":
                    response.failure(f"{kind} {transaction_id}: {response.status_code} {response.text}")
                    return
                if time.monotonic() > deadline:
                    response.failure(f"{kind} {transaction_id} still pending after {SAGA_DEADLINE_SECONDS} s")
                    return
