from django.core.management.base import BaseCommand

from evaluations.reminders import send_due


class Command(BaseCommand):
    help = (
        "向尚未提交的单位发送今天到期的填报提醒（开始填报、过半、截止前、逾期）；"
        "可重复运行，同一提醒不会发送两次（由 cron 或 systemd 定时器每天运行）"
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="只列出将要发送的提醒，不发送、不记录"
        )

    def handle(self, *, dry_run: bool, **options) -> None:
        reminders = send_due(dry_run=dry_run)
        for reminder in reminders:
            self.stdout.write(str(reminder))
        verb = "将发送" if dry_run else "已发送"
        self.stdout.write(f"{verb} {len(reminders)} 条提醒。")
